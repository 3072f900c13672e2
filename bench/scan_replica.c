/* A measurement tool, not project code that computes results: the inner loop of a scalar IVF-PQ table
 * scan as faiss 1.7.x runs it for 8-bit codes with precomputed tables (one float accumulator per code,
 * M dependent adds of table entries, a compare against the heap's worst), written here from that
 * description so bench.scan_replica can time it over M. Built by bench.scan_replica with the flags of
 * faiss's AVX2 build (-O3 -mavx2 -mfma); the compiler cannot vectorise the add chain without -ffast-math,
 * as it could not in faiss.
 *
 * Three variants separate the mechanisms:
 *   scan_full     the loop as is: table of M x 256 floats (M KB), dependent add chain
 *   scan_chain    the same, but every sub-quantizer reads one 256-entry row (1 KB, always in L1):
 *                 the dependent chain and the code loads without the table's footprint
 *   scan_nochain  the table of M x 256 floats read into four independent accumulators: loads and
 *                 adds without the dependent chain
 * and fadd_chain times one dependent single-precision add per step (the core's FP add latency).
 */
#include <stddef.h>
#include <stdint.h>

float scan_full(const uint8_t* codes, size_t n, size_t M, const float* table, float dis0, float worst,
                int64_t* inserts) {
    int64_t hits = 0;
    for (size_t j = 0; j < n; j++) {
        const uint8_t* c = codes + j * M;
        const float* tab = table;
        float dis = dis0;
        for (size_t m = 0; m < M; m++) {
            dis += tab[c[m]];
            tab += 256;
        }
        if (dis < worst) {
            worst = dis;
            hits++;
        }
    }
    *inserts = hits;
    return worst;
}

float scan_chain(const uint8_t* codes, size_t n, size_t M, const float* table, float dis0, float worst,
                 int64_t* inserts) {
    int64_t hits = 0;
    for (size_t j = 0; j < n; j++) {
        const uint8_t* c = codes + j * M;
        float dis = dis0;
        for (size_t m = 0; m < M; m++)
            dis += table[c[m]];
        if (dis < worst) {
            worst = dis;
            hits++;
        }
    }
    *inserts = hits;
    return worst;
}

float scan_nochain(const uint8_t* codes, size_t n, size_t M, const float* table, float dis0, float worst,
                   int64_t* inserts) {
    int64_t hits = 0;
    for (size_t j = 0; j < n; j++) {
        const uint8_t* c = codes + j * M;
        const float* tab = table;
        float d0 = dis0, d1 = 0.0f, d2 = 0.0f, d3 = 0.0f;
        for (size_t m = 0; m + 3 < M; m += 4) {
            d0 += tab[c[m]];
            d1 += tab[256 + c[m + 1]];
            d2 += tab[512 + c[m + 2]];
            d3 += tab[768 + c[m + 3]];
            tab += 1024;
        }
        float dis = (d0 + d1) + (d2 + d3);
        if (dis < worst) {
            worst = dis;
            hits++;
        }
    }
    *inserts = hits;
    return worst;
}

float fadd_chain(size_t n, float x, float step) {
    for (size_t i = 0; i < n; i++) {
        x += step;
        __asm__ volatile("" : "+x"(x));  /* keep each add: no reassociation, no vectorisation */
    }
    return x;
}
