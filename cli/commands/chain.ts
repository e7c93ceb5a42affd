/** `zkfl chain`. */
import { formatEther, isAddress } from 'ethers';
import { join } from 'node:path';
import { loadCircuit } from '../../circuits/build.js';
import { type CircuitName, circuitParams, defaultSetup } from '../../circuits/params.js';
import { writeDeployment } from '../../contracts/deployment.js';
import { startDevnet } from '../../contracts/devnet.js';
import { ZkflError } from '../../common/errors.js';
import { circuitNames, integer, parse, tokenAmount } from '../args.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl chain [--port 8545] [--deployment FILE] [--circuits NAME[,…]] [--fund ADDR[,ADDR…] [--eth 10] [--tokens 1000]]`;

/** `zkfl chain`: a local chain with zkfl deployed, until interrupted. */
export async function run(args: string[]): Promise<void> {
  const values = parse(args, {
    port: { type: 'string' },
    deployment: { type: 'string' },
    circuits: { type: 'string' },
    fund: { type: 'string' },
    eth: { type: 'string' },
    tokens: { type: 'string' },
  });
  const funded = ((values.fund as string | undefined) ?? '').split(',').filter(Boolean);
  for (const address of funded) {
    if (!isAddress(address))
      throw new ZkflError('VALIDATION_FAILED', `--fund: ${String(address)} is not an address`, 'fund');
  }
  const [eth, tokens] = [tokenAmount(values, 'eth', '10'), tokenAmount(values, 'tokens', '1000')];
  // Tasks on a circuit without a verifier here could never settle: refuse to start without the ones asked for.
  const needed = values.circuits === undefined ? defaultSetup : circuitNames(values.circuits as string, 'circuits');
  const missing = needed.filter((name) => !loadCircuit(circuitParams[name]));
  if (missing.length > 0) {
    throw new ZkflError(
      'UNAVAILABLE',
      `circuit${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not built, so on-chain tasks proven with ${missing.length > 1 ? 'them' : 'it'} could not settle here: run \`npx zkfl setup --circuit ${missing.join(',')}\`, or deploy only what is built with --circuits`,
    );
  }
  // Every circuit built here gets its verifier, the ones asked for among them.
  const built = (Object.keys(circuitParams) as CircuitName[])
    .map((name) => loadCircuit(circuitParams[name]))
    .filter((artifacts) => artifacts !== undefined);
  const devnet = await startDevnet(built, integer(values, 'port', 8545));
  const path = (values.deployment as string | undefined) ?? join('.zkfl', 'deployment.json');
  writeDeployment(path, devnet.deployment);
  process.stdout.write(`chain ${devnet.chain.url}\ndeployment ${path}\n`);
  process.stderr.write(
    `contracts deployed by ${await devnet.owner.getAddress()} (Hardhat account 0, which also mints the reward token)\n`,
  );
  for (const address of funded) {
    await devnet.fund(address, formatEther(eth));
    await devnet.mint(address, tokens);
    process.stderr.write(`funded ${address}: ${formatEther(eth)} ETH for gas, ${formatEther(tokens)} ZKR\n`);
  }
  const shutdown = (): void => void devnet.stop().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
