/**
 * Hardhat 2 is used only as a local chain: its in-process provider for tests and `hardhat node` for the demo and
 * `zkfl chain`. Contracts are compiled by contracts/compile.ts with npm solc, never by `hardhat compile`, which would
 * download a compiler. The sources path points at an empty folder so no task can find anything to compile.
 */
module.exports = {
  paths: {
    sources: './.zkfl/no-hardhat-sources',
    cache: './.zkfl/hardhat-cache',
    artifacts: './.zkfl/hardhat-artifacts',
  },
  networks: {
    // Blocks mined within one second share its timestamp: otherwise each block adds a second, the chain's clock runs
    // ahead of the wall clock, and every window measured on-chain (challenges, claims) lasts longer than it says.
    hardhat: { chainId: 31337, hardfork: 'cancun', mining: { auto: true }, allowBlocksWithSameTimestamp: true },
  },
};
