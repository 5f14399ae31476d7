/*
 * Crashes on purpose (an undefined instruction): the Cortex-M runtime must report the
 * fault and exit with a nonzero status instead of leaving QEMU spinning forever.
 */
#include <stdio.h>

int main(void)
{
    printf("fault: about to execute an undefined instruction\n");
    fflush(stdout);
    __builtin_trap();
    return 0;
}
