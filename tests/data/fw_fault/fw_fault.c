/*
 * Replaces fw_main.c in a board firmware and crashes on purpose (an undefined
 * instruction): fw_crt.c must print its fault line on the console UART, since a board
 * has no semihosting to report through.
 */
#include "console.h"

int main(void)
{
    mbmicro_console_init();
    mbmicro_console_write("fw_fault: trapping\r\n", 20);
    __builtin_trap();
    return 0;
}
