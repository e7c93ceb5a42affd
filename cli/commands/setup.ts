/** `zkfl setup`. */
import { buildCircuit, terminateCurve } from '../../circuits/build.js';
import { circuitFor, type CircuitName, circuitParams, defaultSetup } from '../../circuits/params.js';
import { modelSize } from '../../ml/model-size.js';
import { parseTaskSpec } from '../../protocol/task-spec.js';
import { circuitNames, parse, readJson } from '../args.js';

/** This command's lines of `zkfl --help`. */
export const usage = `  zkfl setup [--circuit default|default15|default8|default16|test|test8|test16|bench630|bench2520[,…] | --task task.json]
             [--ptau FILE] [--force]`;

/** `--task task.json`: the circuit of the default family that the coordinator will prove that task with. */
function circuitOfSpec(path: string): CircuitName {
  const spec = parseTaskSpec(readJson(path, 'task'));
  const { params } = modelSize(spec.model, spec.inputShape, spec.classes);
  const chosen = circuitFor('default', spec.quantization.bits, params);
  return (Object.keys(circuitParams) as CircuitName[]).find((name) => circuitParams[name].name === chosen.name)!;
}

export async function run(args: string[]): Promise<void> {
  const values = parse(args, {
    circuit: { type: 'string' },
    task: { type: 'string' },
    ptau: { type: 'string' },
    force: { type: 'boolean' },
  });
  const names =
    values.task !== undefined
      ? [circuitOfSpec(values.task as string)]
      : values.circuit !== undefined
        ? circuitNames(values.circuit as string, 'circuit')
        : defaultSetup;
  try {
    for (const name of names) {
      const artifacts = await buildCircuit(circuitParams[name], {
        ptau: (values.ptau as string | undefined) ?? process.env.ZKFL_PTAU,
        force: values.force === true,
      });
      const { manifest } = artifacts;
      process.stdout.write(
        `${manifest.circuit}: ${manifest.constraints} constraints, ptau ${manifest.ptau.origin}${manifest.warning ? ` (${manifest.warning})` : ''}\n  ${artifacts.dir}\n`,
      );
    }
  } finally {
    await terminateCurve();
  }
}
