/* The fixed line, then the request loop of console_serve.c. */
#include "console.h"
#include "console_serve.h"
#include "fw_cycles.h"

int main(void)
{
    static const char line[] = "MBMICRO serve-image ready\r\n";
    mbmicro_console_init();
    mbmicro_cycles_init();
    mbmicro_console_write(line, sizeof line - 1);
    mbmicro_serve();
    return 0;
}
