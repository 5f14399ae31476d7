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
 * At exit one line per region ("region I COUNT"), "total COUNT" (all instructions of the
 * program) and, if the markers were misused, "error TEXT" lines are written to PATH, or
 * without out= through qemu_plugin_outs (QEMU's log: visible with -d plugin).
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = MBMICRO_QEMU_PLUGIN_API_VERSION;

static uint64_t begin_addr;
static uint64_t end_addr;
static const char *out_path;

/* Only one vCPU runs the model (M-profile boards and single-threaded user mode). */
static uint64_t executed;
static uint64_t region_start;
static int in_region;
static uint64_t *regions;
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
    region_start = executed;
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
        uint64_t *grown = realloc(regions, cap * sizeof *grown);
        if (grown == NULL) {
            qemu_plugin_outs("qemu_insn_count: out of memory\n");
            exit(1);
        }
        regions = grown;
        cap_regions = cap;
    }
    regions[n_regions++] = executed - region_start;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
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
        fprintf(f, "region %zu %" PRIu64 "\n", i, regions[i]);
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
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_report, NULL);
    return 0;
}
