/* Host program for tests/test_model_library.py: reads the toy model's input from stdin,
 * runs it through the library's API and writes the output to stdout. */
#include <stdint.h>
#include <stdio.h>

#include "toy_net_model.h"

static int8_t input[TOY_NET_INPUT_SIZE];
static int8_t output[TOY_NET_OUTPUT_SIZE];

int main(void)
{
    if (fread(input, 1, sizeof input, stdin) != sizeof input)
        return 1;
    if (toy_net_run(input, output) != 0)
        return 3;
    return fwrite(output, 1, sizeof output, stdout) != sizeof output;
}
