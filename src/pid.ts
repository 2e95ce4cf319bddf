// Whether a process still runs: how stale temporaries (index builds, tracing instances) are told
// from live ones. `kill(pid, 0)` sends nothing; EPERM means it runs under another user.
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return typeof err === 'object' && err !== null && 'code' in err && err.code === 'EPERM';
  }
}
