/* The console API of the board firmware (b_context design; targets/common/console.h on boards). */
#ifndef MBMICRO_CONSOLE_H
#define MBMICRO_CONSOLE_H

void mbmicro_console_init(void);
void mbmicro_console_write(const char *s, unsigned n);
/* The next received byte; blocks until one arrives. */
int mbmicro_console_getc(void);

#endif
