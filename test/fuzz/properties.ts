/** Every fuzz property: test/fuzz/fuzz.test.ts runs each briefly in CI, bench/fuzz/run.ts for minutes. */
import type { FuzzCase } from './case.js';
import { dhcpCases } from './props/dhcp.js';
import { tftpCases } from './props/tftp.js';
import { rangeCases } from './props/range.js';
import { macCases } from './props/mac.js';
import { safePathCases } from './props/safe-path.js';
import { importCases } from './props/import.js';
import { bootHttpCases } from './props/boot-http.js';

export type { FuzzCase } from './case.js';
export const CASES: FuzzCase[] = [...dhcpCases, ...tftpCases, ...rangeCases, ...macCases, ...safePathCases, ...importCases, ...bootHttpCases];
