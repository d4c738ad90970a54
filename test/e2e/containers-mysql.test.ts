import { containersSuite } from './containers-suite.ts';

containersSuite('mysql');
