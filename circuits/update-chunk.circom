pragma circom 2.1.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/poseidon.circom";

/*
 * UpdateChunk(D, B, PACK): one chunk of D parameters of a client's quantized model update q is well formed and
 * bound to its task, round, global model and sender.
 *
 *   range    every q[i] lies in [-2^(B-1), 2^(B-1)). Checked on q[i] + 2^(B-1) in B bits; this also rules out field
 *            wraparound, so the norm below is the integer norm.
 *   norm     Σ q[i]² ≤ normBound (the task's per-chunk share of its L2 clip, in quantized units).
 *   binding  commitment = PoseidonChain(salt, taskId, round, address, modelHash, chunkIndex, pack(q)): an update
 *            cannot be moved to another task, round, model, sender or position in the model.
 *
 * pack(q): PACK offset values q[i] + 2^(B-1) of B bits each per field element (PACK·B ≤ 253), little-endian.
 * PoseidonChain: h = Poseidon(salt, taskId, round, address, modelHash, chunkIndex), then h = Poseidon(h, next 15
 * packed elements, zero-padded) until all are absorbed. The TypeScript twin is circuits/commitment.ts.
 *
 * Public signals, in this order: commitment, taskId, round, address, modelHash, chunkIndex, normBound.
 */
template UpdateChunk(D, B, PACK) {
    assert(PACK * B <= 253);
    var GROUPS = (D + PACK - 1) \ PACK;
    var ABSORBS = (GROUPS + 14) \ 15;
    // Σ q² ≤ D · 2^(2B-2) fits in SUM_BITS bits (circomlib's nbits).
    var SUM_BITS = nbits(D * (1 << (2 * B - 2)));

    signal input taskId;       // first 31 bytes of sha256(task id)
    signal input round;        // round number, from 1
    signal input address;      // the client's Ethereum address, 160 bits
    signal input modelHash;    // first 31 bytes of sha256 of the global weights w_r
    signal input chunkIndex;   // position of this chunk in the update, from 0
    signal input normBound;    // largest Σ q² allowed for this chunk
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
    // LessEqThan is only sound for inputs below 2^SUM_BITS: normSq is by construction, the public bound is checked.
    component boundBits = Num2Bits(SUM_BITS);
    boundBits.in <== normBound;
    component withinBound = LessEqThan(SUM_BITS);
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
    component header = Poseidon(6);
    header.inputs[0] <== salt;
    header.inputs[1] <== taskId;
    header.inputs[2] <== round;
    header.inputs[3] <== address;
    header.inputs[4] <== modelHash;
    header.inputs[5] <== chunkIndex;
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
