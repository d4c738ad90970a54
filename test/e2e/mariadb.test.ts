// MariaDB 10.11 from Debian's packages.
import { replicationSuite } from './replication-suite.ts';

replicationSuite('mariadb');
