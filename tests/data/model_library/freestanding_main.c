/*
 * A firmware that links the model library (OUT/model/, built with --prefix net) and the four
 * memory functions of targets/common/freestanding_mem.c, nothing else: compiled with
 * -ffreestanding -nostdlib, no newlib, no startup files, no libgcc.
 * tests/test_model_library.py links it with make (model.mk) and with CMake (model.cmake).
 *
 * gcc requires a freestanding program to provide memcpy, memmove, memset and memcmp (it may
 * call them for plain loops and struct copies): the board firmware's file has them.
 */
#include <stdint.h>

#include "net_model.h"

static int8_t input[NET_INPUT_SIZE];
static int8_t output[NET_OUTPUT_SIZE];
volatile int status;

void _start(void)
{
    status = net_run(input, output);
    for (;;) {
    }
}
