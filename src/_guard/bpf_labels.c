/* bpf_labels.c - the named-label table of the two BPF assemblers (see bpf_labels.h). */
#include "bpf_labels.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
guard_bpf_labels_free(struct guard_bpf_labels *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

int
guard_bpf_labels_find(const struct guard_bpf_labels *t, const char *name)
{
    for (unsigned i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].name, name) == 0)
            return (int)i;
    }
    return -1;
}

int
guard_bpf_labels_id(struct guard_bpf_labels *t, const char *name, size_t name_max)
{
    int id = guard_bpf_labels_find(t, name);
    if (id >= 0)
        return id;
    size_t len = strlen(name);
    if (len > name_max || len > GUARD_BPF_LABEL_ROOM)
        return -ENAMETOOLONG;
    if (t->n == t->cap) {
        unsigned cap = t->cap ? t->cap * 2 : 32;
        struct guard_bpf_label *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            return -ENOMEM;
        t->v = v;
        t->cap = cap;
    }
    struct guard_bpf_label *l = &t->v[t->n];
    memcpy(l->name, name, len + 1);
    l->pos = -1;
    return (int)t->n++;
}

int
guard_bpf_labels_define(struct guard_bpf_labels *t, const char *name, size_t name_max, int pos)
{
    int id = guard_bpf_labels_id(t, name, name_max);
    if (id < 0)
        return id;
    if (t->v[id].pos >= 0)
        return -EEXIST;
    t->v[id].pos = pos;
    return 0;
}
