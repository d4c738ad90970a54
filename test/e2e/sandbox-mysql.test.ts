import { sandboxArgumentSuite, sandboxSuite } from './sandbox-suite.ts';

sandboxArgumentSuite();
sandboxSuite('mysql');
