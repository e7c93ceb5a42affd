// mocha's spec reporter, plus the plain closing line CI reads: "N passed, N failed".
const { reporters, Runner } = require('mocha');

class CountReporter extends reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    runner.on(Runner.constants.EVENT_TEST_PASS, () => passed++);
    runner.on(Runner.constants.EVENT_TEST_FAIL, () => failed++);
    runner.once(Runner.constants.EVENT_RUN_END, () => process.stdout.write(`\n${passed} passed, ${failed} failed\n`));
  }
}

module.exports = CountReporter;
