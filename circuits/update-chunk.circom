pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/poseidon.circom";

/*
 * UpdateChunk(D, B, PACK): one chunk of D parameters of a client's quantized model update q is well formed and
 * bound to its task, round, global model, sender and position in the model.
 *
 *   range    every q[i] lies in [-2^(B-1), 2^(B-1)). Checked on q[i] + 2^(B-1) in B bits; this also rules out field
 *            wraparound, so the norm below is the integer norm.
 *   norm     Σ q[i]² ≤ normBound (the task's per-chunk share of its L2 clip, in quantized units).
 *   binding  commitment = PoseidonChain(salt, statement, pack(q)): the update cannot be moved to another statement.
 *
 * statement: one public field element, so that the proof costs one elliptic-curve multiplication to verify on-chain
 * instead of six (~7k gas each). Its bits 48..247 are the top 200 bits of
 *   keccak256(abi.encode(sha256(task id), round, H_r, address, chunkIndex))
 * and its bits 0..47 are normBound. The verifier (coordinator or contract) builds it from its own state; keccak is
 * cheap there and never computed here: the circuit only needs normBound out of it, and the commitment absorbs all of
 * it. The TypeScript twin is circuits/statement.ts, the Solidity one ZkflRewards.statementOf.
 *
 * pack(q): PACK offset values q[i] + 2^(B-1) of B bits each per field element (PACK·B ≤ 253), little-endian.
 * PoseidonChain: h = Poseidon(salt, statement), then h = Poseidon(h, next 15 packed elements, zero-padded) until all
 * are absorbed. The TypeScript twin is circuits/commitment.ts.
 *
 * Public signals, in this order: commitment, statement.
 */
template UpdateChunk(D, B, PACK) {
    assert(PACK * B <= 253);
    var GROUPS = (D + PACK - 1) \ PACK;
    var ABSORBS = (GROUPS + 14) \ 15;
    var BOUND_BITS = 48;
    // Σ q² ≤ D · 2^(2B-2) must fit the comparator's BOUND_BITS.
    assert(nbits(D * (1 << (2 * B - 2))) <= BOUND_BITS);

    signal input statement;    // public: statement tag (bits 48..247) and normBound (bits 0..47), see above
    signal input q[D];         // the quantized update values of this chunk (negative values as p - |q|)
    signal input salt;         // random, private: hides q from whoever sees only the commitment
    signal output commitment;

    // range: B-bit decomposition of the offset value.
    component bits[D];
    for (var i = 0; i < D; i++) {
        bits[i] = Num2Bits(B);
        bits[i].in <== q[i] + (1 << (B - 1));
    }

    // norm: one multiplication per value; the sum is linear.
    signal squares[D];
    var normSq = 0;
    for (var i = 0; i < D; i++) {
        squares[i] <== q[i] * q[i];
        normSq += squares[i];
    }
    // 248 bits: a unique decomposition (below the field order), so normBound is exactly the statement's low bits, and
    // below 2^BOUND_BITS as LessEqThan needs; normSq is below it by construction.
    component statementBits = Num2Bits(248);
    statementBits.in <== statement;
    var normBound = 0;
    for (var i = 0; i < BOUND_BITS; i++) {
        normBound += statementBits.out[i] * (1 << i);
    }
    component withinBound = LessEqThan(BOUND_BITS);
    withinBound.in[0] <== normSq;
    withinBound.in[1] <== normBound;
    withinBound.out === 1;

    // binding: pack, then chain Poseidon over the header and the packed elements.
    signal packed[GROUPS];
    for (var g = 0; g < GROUPS; g++) {
        var lc = 0;
        for (var m = 0; m < PACK && g * PACK + m < D; m++) {
            lc += (q[g * PACK + m] + (1 << (B - 1))) * (1 << (B * m));
        }
        packed[g] <== lc;
    }
    component header = Poseidon(2);
    header.inputs[0] <== salt;
    header.inputs[1] <== statement;
    component absorb[ABSORBS];
    for (var k = 0; k < ABSORBS; k++) {
        absorb[k] = Poseidon(16);
        absorb[k].inputs[0] <== k == 0 ? header.out : absorb[k - 1].out;
        for (var j = 0; j < 15; j++) {
            absorb[k].inputs[1 + j] <== 15 * k + j < GROUPS ? packed[15 * k + j] : 0;
        }
    }
    commitment <== absorb[ABSORBS - 1].out;
}
