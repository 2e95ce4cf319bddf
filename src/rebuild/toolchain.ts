// What a kernel build needs on this machine: probed, never assumed, and named as the Debian
// packages to install when something is missing.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { InputError } from '../errors.ts';

export interface Toolchain {
  /** The compiler kbuild runs (CC=…). */
  cc: string;
  /** First line of `cc --version`. */
  ccVersion: string;
}

function firstLine(cmd: string, args: readonly string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { encoding: 'utf8', timeout: 20_000 }, (err, stdout) => {
      resolve(err !== null ? null : stdout.split('\n')[0]?.trim() ?? '');
    });
  });
}

/** Whether a program runs at all (`--version` answers). */
const runs = async (cmd: string): Promise<boolean> => (await firstLine(cmd, ['--version'])) !== null;

/** The compiler program named first in CONFIG_CC_VERSION_TEXT (`gcc-12 (Debian …) 12.2.0` → `gcc-12`). */
export function configCompilerName(ccVersionText: string | null): string | null {
  const m = /^([A-Za-z0-9_.+-]+) \(/.exec(ccVersionText ?? '');
  return m?.[1] ?? null;
}

/** `gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0` → `(Debian 12.2.0-14+deb12u1) 12.2.0`: the program's own name may differ. */
export const versionPart = (text: string): string => text.replace(/^\S+\s+/, '').trim();

/**
 * Checks every tool kbuild needs for `olddefconfig`, `prepare` and single objects; one InputError
 * names all the Debian packages that are missing. `cc` is --cc, else the compiler the config names
 * when it is installed (Debian's kernels say gcc-12), else gcc.
 */
export async function probeToolchain(ccGiven: string | undefined, ccVersionText: string | null, includeDir = '/usr/include'): Promise<Toolchain> {
  const named = configCompilerName(ccVersionText);
  let cc = ccGiven ?? 'gcc';
  if (ccGiven === undefined && named !== null && named !== 'gcc' && /^(?:[a-z0-9_]+-)*(?:gcc|clang)(?:-\d+)?$/.test(named) && await runs(named)) cc = named;
  const missing: string[] = [];
  const [ccVersion, make, flex, bison, bc, perl] = await Promise.all([
    firstLine(cc, ['--version']), runs('make'), runs('flex'), runs('bison'), firstLine('bc', ['--version']), runs('perl'),
  ]);
  if (ccVersion === null) missing.push(ccGiven !== undefined ? `the compiler ${ccGiven} (--cc)` : 'gcc');
  if (!make) missing.push('make');
  if (!flex) missing.push('flex');
  if (!bison) missing.push('bison');
  if (bc === null) missing.push('bc');
  if (!perl) missing.push('perl');
  if (!existsSync(`${includeDir}/gelf.h`) && !existsSync(`${includeDir}/libelf.h`)) missing.push('libelf-dev');
  if (!existsSync(`${includeDir}/openssl/opensslv.h`)) missing.push('libssl-dev');
  if (missing.length > 0) {
    const pkgs = missing.map((m) => (m.startsWith('the compiler') ? 'gcc' : m));
    throw new InputError(`cannot rebuild: missing ${missing.join(', ')}`, {
      hint: `apt-get install ${[...new Set(pkgs)].join(' ')} (Debian/Ubuntu package names)`,
    });
  }
  return { cc, ccVersion: ccVersion ?? '' };
}

/** A warning when the compiler that will run is not the one the kernel was built with, else null. */
export function compilerWarning(tc: Toolchain, ccVersionText: string | null): string | null {
  if (ccVersionText === null) return `the config has no CONFIG_CC_VERSION_TEXT: cannot check that ${tc.cc} (${tc.ccVersion}) built the kernel; the rebuilt code may differ`;
  if (versionPart(tc.ccVersion) === versionPart(ccVersionText)) return null;
  return `the kernel was built with "${ccVersionText}" but ${tc.cc} is "${tc.ccVersion}": the rebuilt code may differ from the shipped kernel (pick the same compiler with --cc)`;
}
