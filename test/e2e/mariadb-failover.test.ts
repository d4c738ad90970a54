import { failoverSuite } from './failover-suite.ts';

failoverSuite('mariadb');
