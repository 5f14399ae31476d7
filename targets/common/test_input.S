/*
 * The build's test input (firmware/test_input.bin, written by mbmicro build) as a
 * constant in flash: mbmicro_test_input .. mbmicro_test_input_end. Included as raw
 * bytes so no generated C is needed for it; fw_main.c checks the size.
 */
    .section .rodata.mbmicro_test_input, "a", %progbits
    .balign 4
    .global mbmicro_test_input
mbmicro_test_input:
    .incbin "test_input.bin"
    .global mbmicro_test_input_end
mbmicro_test_input_end:
