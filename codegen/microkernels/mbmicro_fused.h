/*
 * Row helpers of fused regions (codegen/fused.py, docs/MEMORY.md).
 *
 * A fused region runs a chain of kernels row by row; its intermediate tensors
 * live in ring buffers of padded rows.  These helpers fill a padding row with
 * the consumer's input zero point, copy a row into a ring's mirror slot, and
 * give the first stage its window of KH input rows: a pointer into the full
 * input tensor when the window lies inside it, else a copy with zero-point
 * rows in a small scratch.  Plain C99 (memcpy/memset: the compiler's or the
 * C library's, which the firmware runtime provides too).
 */
#ifndef MBMICRO_FUSED_H
#define MBMICRO_FUSED_H

#include <stdint.h>
#include <string.h>

static inline void mbmicro_fused_fill(int8_t *dst, int32_t value, int32_t nbytes)
{
    memset(dst, (int)(uint8_t)(int8_t)value, (size_t)nbytes);
}

static inline void mbmicro_fused_copy(int8_t *dst, const int8_t *src, int32_t nbytes)
{
    memcpy(dst, src, (size_t)nbytes);
}

static inline int32_t mbmicro_fused_min(int32_t a, int32_t b)
{
    return a < b ? a : b;
}

/* After writing n rows at ring slots slot .. slot+n-1 of a ring of `rows` slots followed by
 * `mirror` mirror slots (slot rows + i holds the row of slot i, i < mirror): a row written past
 * the ring is copied to its slot, a row written to one of the first `mirror` slots to its mirror. */
static inline void mbmicro_fused_ring_fix(int8_t *ring, int32_t slot, int32_t n, int32_t rows, int32_t mirror,
                                          int32_t row_bytes)
{
    int32_t s;
    for (s = slot; s < slot + n; ++s) {
        if (s >= rows)
            mbmicro_fused_copy(ring + (s - rows) * row_bytes, ring + s * row_bytes, row_bytes);
        else if (s < mirror)
            mbmicro_fused_copy(ring + (s + rows) * row_bytes, ring + s * row_bytes, row_bytes);
    }
}

/* Rows first .. first+kh-1 of a tensor of `rows` rows of `row_bytes` bytes: in place when all
 * exist, else copied to `scratch` (kh rows) with the rows outside filled with `zero_point`. */
static inline const int8_t *mbmicro_fused_window(const int8_t *x, int32_t rows, int32_t row_bytes,
                                                 int32_t first, int32_t kh, int32_t zero_point,
                                                 int8_t *scratch)
{
    int32_t k;
    if (first >= 0 && first + kh <= rows)
        return x + first * row_bytes;
    for (k = 0; k < kh; ++k) {
        int32_t row = first + k;
        if (row >= 0 && row < rows)
            mbmicro_fused_copy(scratch + k * row_bytes, x + row * row_bytes, row_bytes);
        else
            mbmicro_fused_fill(scratch + k * row_bytes, zero_point, row_bytes);
    }
    return scratch;
}

#endif /* MBMICRO_FUSED_H */
