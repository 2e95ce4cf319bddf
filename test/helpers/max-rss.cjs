// Preloaded by test/helpers/hostile-tree.ts: prints the process's peak RSS (KiB) on stderr at exit.
process.on('exit', () => process.stderr.write(`dropsite-test-max-rss-kib ${process.resourceUsage().maxRSS}\n`));
