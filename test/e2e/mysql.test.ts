// Oracle MySQL 9.7 from the Debian sid chroot (see DEVELOPERS.md).
import { replicationSuite } from './replication-suite.ts';

replicationSuite('mysql');
