/* bpf_labels.h - the named-label table of the two BPF assemblers (pure C).
 *
 * sasm.c (classic BPF, seccomp) and ebpf.c (eBPF, egress) both let a jump name its
 * target before the target exists: the first mention of a name creates an undefined
 * label, defining it records its instruction index, and each assembler's finish step
 * turns ids into displacements its own way.  This is the one lookup both use.
 *
 * Errors: -ENAMETOOLONG (name longer than the assembler's NAME_MAX), -ENOMEM
 * (allocation), -EEXIST (label defined twice).
 */
#ifndef GUARD_BPF_LABELS_H
#define GUARD_BPF_LABELS_H

#include <stddef.h>

/* Room for the longest name either assembler accepts (sasm.h: 47, ebpf.h: 31). */
#define GUARD_BPF_LABEL_ROOM 47

struct guard_bpf_label {
    char name[GUARD_BPF_LABEL_ROOM + 1];
    int pos; /* instruction index, or -1 while only referenced */
};

struct guard_bpf_labels {
    struct guard_bpf_label *v;
    unsigned n, cap;
};

/* Frees the table and leaves it empty. */
void guard_bpf_labels_free(struct guard_bpf_labels *t);

/* The id of label NAME, or -1 when no jump or definition has named it. */
int guard_bpf_labels_find(const struct guard_bpf_labels *t, const char *name);

/* The id of label NAME, creating an undefined one; NAME_MAX (at most
 * GUARD_BPF_LABEL_ROOM) is the assembler's limit.  -ENAMETOOLONG or -ENOMEM. */
int guard_bpf_labels_id(struct guard_bpf_labels *t, const char *name, size_t name_max);

/* Defines NAME at instruction POS.  0, -EEXIST, -ENAMETOOLONG or -ENOMEM. */
int guard_bpf_labels_define(struct guard_bpf_labels *t, const char *name, size_t name_max, int pos);

#endif
