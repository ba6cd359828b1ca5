/**
 * Loaded by `npm test` into every test file's process (`--import`; the runner itself, which
 * runs each file in a process of its own, loads none of the `--import` modules). Under
 * `--test-force-exit` with several files at once, Node ends a file's process while the last of
 * its results are still on their way to the runner through the process's standard output: they
 * are lost, the runner counts fewer tests than ran, and the run still passes (nodejs/node#64833,
 * open for Node 24 and 26). Its reproduction, 40 files of 50 empty tests, reported 1,447, 1,588
 * and 1,663 of the 2,000 here; one of this project's CI runs lost a suite of eight. Written
 * blocking, each result has reached the pipe before the process can end (2,000 of 2,000, three
 * times). Remove once Node flushes the pipe itself before a forced exit.
 */
if (process.env.NODE_TEST_CONTEXT?.startsWith('child')) {
  const handle: unknown = Reflect.get(process.stdout, '_handle');
  if (
    typeof handle === 'object' &&
    handle !== null &&
    'setBlocking' in handle &&
    typeof handle.setBlocking === 'function'
  ) {
    handle.setBlocking(true);
  }
}
