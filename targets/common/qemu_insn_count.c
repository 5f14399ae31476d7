/*
 * QEMU TCG plugin: executed guest instructions per profiling region.
 *
 * The generated model (built with -DMBMICRO_PROFILE) calls mbmicro_layer_begin(i) and
 * mbmicro_layer_end(i) around every layer. mbmicro/sim/qemu.py looks up the entry addresses
 * of those two functions and passes them here:
 *
 *   -plugin libqemu_insn_count.so,begin=0xADDR,end=0xADDR[,out=PATH]
 *
 * Every executed instruction adds 1 to one counter through an inline TCG op (no helper
 * call, so QEMU keeps its full speed); only the two marker instructions get a callback,
 * which snapshots the counter. A region is "counter at end marker - counter at begin
 * marker": the layer's instructions plus the constant few of the call/return of the
 * markers. QEMU models no caches or pipeline, so the counts are exactly repeatable.
 *
 * The instruction mix: at translation time each instruction is also put in a class
 * (insn_class.c, from qemu_plugin_insn_disas) and a second inline op adds 1 to that
 * class's counter; multi-register transfers add their extra registers to one more
 * counter. mbmicro/sim/cycles.py weights the classes with targets/<core>/cycles.json
 * into an estimated cycle count. The classes of a region sum to its instruction count.
 *
 * At exit one line per region ("region I COUNT"), "classes NAME..." (the class names, then
 * "extra_registers"), one "mix I N..." line per region in that order, "total COUNT" (all
 * instructions of the program) and, if the markers were misused, "error TEXT" lines are
 * written to PATH, or without out= through qemu_plugin_outs (QEMU's log: -d plugin).
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insn_class.h"
#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = MBMICRO_QEMU_PLUGIN_API_VERSION;

static uint64_t begin_addr;
static uint64_t end_addr;
static const char *out_path;

/* counters[0..INSN_CLASSES-1]: per class; then the extra registers of multi-register transfers */
#define N_COUNTERS (INSN_CLASSES + 1)
#define EXTRA_REGISTERS INSN_CLASSES

/* One region's instructions and its mix. */
struct region {
    uint64_t executed;
    uint64_t counters[N_COUNTERS];
};

/* Only one vCPU runs the model (M-profile boards and single-threaded user mode). */
static uint64_t executed;
static uint64_t counters[N_COUNTERS];
static struct region start;
static int in_region;
static int guest_a64;
static struct region *regions;
static size_t n_regions;
static size_t cap_regions;
static unsigned long nested_begins;
static unsigned long stray_ends;

static void on_begin(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (in_region) {
        nested_begins++; /* begin without end: restart the region, but report it */
    }
    in_region = 1;
    start.executed = executed;
    memcpy(start.counters, counters, sizeof counters);
}

static void on_end(unsigned int vcpu_index, void *userdata)
{
    (void)vcpu_index;
    (void)userdata;
    if (!in_region) {
        stray_ends++;
        return;
    }
    in_region = 0;
    if (n_regions == cap_regions) {
        size_t cap = cap_regions ? 2 * cap_regions : 256;
        struct region *grown = realloc(regions, cap * sizeof *grown);
        if (grown == NULL) {
            qemu_plugin_outs("qemu_insn_count: out of memory\n");
            exit(1);
        }
        regions = grown;
        cap_regions = cap;
    }
    struct region *r = &regions[n_regions++];
    r->executed = executed - start.executed;
    for (size_t k = 0; k < N_COUNTERS; k++) {
        r->counters[k] = counters[k] - start.counters[k];
    }
}

/* Class and extra registers of one instruction, from its disassembly (and bytes for Helium). */
static void count_class(struct qemu_plugin_insn *insn)
{
    char *text = qemu_plugin_insn_disas(insn);
    enum insn_class cls = insn_classify(text, qemu_plugin_insn_data(insn), qemu_plugin_insn_size(insn), guest_a64);
    unsigned extra = insn_extra_registers(text, guest_a64);
    free(text);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counters[cls], 1);
    if (extra) {
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counters[EXTRA_REGISTERS],
                                                   extra);
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
        count_class(insn);
        if (vaddr == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        } else if (vaddr == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void write_report(FILE *f)
{
    for (size_t i = 0; i < n_regions; i++) {
        fprintf(f, "region %zu %" PRIu64 "\n", i, regions[i].executed);
    }
    fprintf(f, "classes");
    for (size_t k = 0; k < INSN_CLASSES; k++) {
        fprintf(f, " %s", insn_class_names[k]);
    }
    fprintf(f, " extra_registers\n");
    for (size_t i = 0; i < n_regions; i++) {
        fprintf(f, "mix %zu", i);
        for (size_t k = 0; k < N_COUNTERS; k++) {
            fprintf(f, " %" PRIu64, regions[i].counters[k]);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "total %" PRIu64 "\n", executed);
    if (in_region) {
        fprintf(f, "error region %zu has a begin but no end\n", n_regions);
    }
    if (nested_begins) {
        fprintf(f, "error %lu begin markers without an end before them\n", nested_begins);
    }
    if (stray_ends) {
        fprintf(f, "error %lu end markers without a begin\n", stray_ends);
    }
}

static void on_exit_report(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    if (out_path != NULL) {
        FILE *f = fopen(out_path, "w");
        if (f != NULL) {
            write_report(f);
            if (fclose(f) == 0) {
                return;
            }
        }
        qemu_plugin_outs("qemu_insn_count: cannot write the out= file\n");
        return;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    if (mem != NULL) {
        write_report(mem);
        fclose(mem);
        qemu_plugin_outs(text);
        free(text);
    }
}

/* Parse "KEY=0xHEX" into *value; returns 1 when arg is that key. */
static int parse_addr(const char *arg, const char *key, uint64_t *value, int *ok)
{
    size_t len = strlen(key);
    if (strncmp(arg, key, len) != 0 || arg[len] != '=') {
        return 0;
    }
    char *end = NULL;
    *value = strtoull(arg + len + 1, &end, 0);
    *ok = end != arg + len + 1 && *end == '\0';
    return 1;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    if (info->version.min > MBMICRO_QEMU_PLUGIN_API_VERSION ||
        info->version.cur < MBMICRO_QEMU_PLUGIN_API_VERSION) {
        qemu_plugin_outs("qemu_insn_count: unsupported QEMU plugin API version\n");
        return 1;
    }
    int have_begin = 0;
    int have_end = 0;
    for (int i = 0; i < argc; i++) {
        int ok = 0;
        if (parse_addr(argv[i], "begin", &begin_addr, &ok)) {
            have_begin = ok;
        } else if (parse_addr(argv[i], "end", &end_addr, &ok)) {
            have_end = ok;
        } else if (strncmp(argv[i], "out=", 4) == 0) {
            out_path = argv[i] + 4; /* argv stays valid for the plugin's lifetime */
        } else {
            qemu_plugin_outs("qemu_insn_count: unknown argument (use begin=, end=, out=)\n");
            return 1;
        }
    }
    if (!have_begin || !have_end || begin_addr == end_addr) {
        qemu_plugin_outs("qemu_insn_count: need begin=ADDR and end=ADDR, two different addresses\n");
        return 1;
    }
    guest_a64 = info->target_name != NULL && strcmp(info->target_name, "aarch64") == 0;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_report, NULL);
    return 0;
}
