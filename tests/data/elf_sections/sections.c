/*
 * One of each kind of section for tests/test_memory_report.py: code (.text), constants
 * (.rodata), initialised data (.data) and zero-initialised data (.bss), with sizes that
 * differ from each other, so a reader that mixes two kinds up gives other numbers than
 * arm-none-eabi-size.  A main that uses all of them keeps them in a linked image.
 */
#include <stdint.h>

const int8_t table[300] = {1, 2, 3};
int32_t counters[7] = {1, 2, 3, 4, 5, 6, 7};
int8_t scratch[1000];
static volatile int32_t sink;
static volatile int32_t rounds = 10; /* volatile: the compiler cannot fold the arrays away */

__attribute__((noinline)) int32_t mix(int32_t i)
{
    scratch[i % 1000] = table[i % 300];
    counters[i % 7] += scratch[(i + 1) % 1000];
    return counters[i % 7];
}

int main(void)
{
    int32_t i;
    for (i = 0; i < rounds; i++)
        sink = mix(i);
    return 0;
}
