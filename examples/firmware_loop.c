/*
 * How firmware calls a model that mbmicro generated: no runtime, no malloc,
 * no setup call.  Build the model with `--prefix net`, then compile this file
 * with the model library out/net/model/ (its C files; model/model.mk and model/model.cmake
 * list them for make and CMake) instead of the test program mbmicro_main.c:
 *
 *   mbmicro build --model mobilenetv2 --width 0.35 --resolution 96 --classes 10 \
 *       --target host --prefix net -o out/net
 *   cc -std=c99 -O2 -Wall -Wextra -Werror -Iout/net/model examples/firmware_loop.c \
 *       out/net/model/net_model.c out/net/model/net_kernels.c out/net/model/net_weights.c -o loop
 *
 * A real firmware would fill `image` from a camera or sensor; here it is a
 * flat grey picture (the input zero point), so the program is deterministic.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "net_model.h"

/* The caller owns the input and output buffers; the arena is inside net_model.c. */
static int8_t image[NET_INPUT_SIZE];
static int8_t scores[NET_OUTPUT_SIZE];

/* Index of the largest int8 score: the order of quantized scores is the order of
 * real scores (same scale and zero point), so no dequantization is needed. */
static int argmax(const int8_t *v, int n) {
    int best = 0;
    for (int i = 1; i < n; ++i) {
        if (v[i] > v[best]) best = i;
    }
    return best;
}

int main(void) {
    memset(image, NET_INPUT_ZERO_POINT, sizeof image);
    for (int frame = 0; frame < 3; ++frame) {   /* e.g. one inference per camera frame */
        if (net_run(image, scores) != 0) return 1;
        int cls = argmax(scores, NET_OUTPUT_SIZE);
        printf("frame %d: class %d (score %.4f)\n", frame, cls,
               NET_OUTPUT_SCALE * (scores[cls] - NET_OUTPUT_ZERO_POINT));
    }
    return 0;
}
