import { failoverSuite } from './failover-suite.ts';

failoverSuite('mysql');
