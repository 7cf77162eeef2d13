/* hook.c - the PEP 578 audit hook: dispatch on the event name, attribute, decide. */
#include "guard.h"

PyMethodDef guard_hook_methods[] = {
    {NULL, NULL, 0, NULL},
};

int
guard_hook_init(PyObject *module)
{
    return 0;
}
