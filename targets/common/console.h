/*
 * The firmware's console: one UART of the board (target.json "board" -> "console"),
 * polled, 8N1 at the board's baud, no interrupts and no buffering.
 *
 * Why polled: the firmware prints one line per run and reads a few framed requests
 * (console_serve.c); a blocking loop on the status register is the smallest driver
 * that works at the reset clock on every board, and it needs no vector table entry.
 *
 * One implementation per UART family is linked: stm32_usart.c (STM32F2/F4 "SR/DR"
 * USARTs, STM32F7/H7/L4 "ISR/TDR" USARTs and the L4 LPUART) or cmsdk_uart.c (Arm
 * CMSDK APB UART of the MPS2/MPS3 boards); mbmicro_board.h selects the instance.
 */
#ifndef MBMICRO_CONSOLE_H
#define MBMICRO_CONSOLE_H

/* Clocks, pins and the UART itself; call once before the other two. */
void mbmicro_console_init(void);
/* Sends n bytes, waiting for room in the transmitter before each one. */
void mbmicro_console_write(const char *s, unsigned n);
/* Waits for one received byte and returns it (0..255). */
int mbmicro_console_getc(void);

#endif /* MBMICRO_CONSOLE_H */
