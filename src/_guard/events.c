/* events.c - the table of mediated audit events. */
#include "events.h"

/* Event names from CPython's audit events table, 3.9 through 3.14.  Columns: name,
 * handler, capability, target_arg, dir_fd_arg, flags (0 if omitted). */
static const ev_entry events[] = {
    /* A sub-interpreter has no frames the walk can attribute: creating one is native. */
    {"cpython.PyInterpreterState_New", H_NEW_INTERP, GUARD_CAP_NATIVE, -1, -1},
    {"import", H_IMPORT, GUARD_CAP_IMPORT, 0, -1},
    {"open", H_OPEN, GUARD_CAP_FS_READ, 0, -1},
    /* fs.read */
    {"os.listdir", H_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.scandir", H_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.chdir", H_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.listxattr", H_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.getxattr", H_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.walk", H_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"os.fwalk", H_PATH, GUARD_CAP_FS_READ, 0, 4},
    {"glob.glob", H_GLOB, GUARD_CAP_FS_READ, 0, -1},
    {"glob.glob/2", H_GLOB, GUARD_CAP_FS_READ, 0, 3},
    {"pathlib.Path.glob", H_PATH, GUARD_CAP_FS_READ, 0, -1},
    {"pathlib.Path.rglob", H_PATH, GUARD_CAP_FS_READ, 0, -1},
    /* fs.write */
    {"os.remove", H_PATH, GUARD_CAP_FS_WRITE, 0, 1},
    {"os.rmdir", H_PATH, GUARD_CAP_FS_WRITE, 0, 1},
    {"os.mkdir", H_PATH, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.chmod", H_PATH, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.chown", H_PATH, GUARD_CAP_FS_WRITE, 0, 3},
    {"os.utime", H_PATH, GUARD_CAP_FS_WRITE, 0, 3},
    {"os.truncate", H_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.setxattr", H_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.removexattr", H_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.mkfifo", H_PATH, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.mknod", H_PATH, GUARD_CAP_FS_WRITE, 0, 3},
    {"os.chflags", H_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.lchflags", H_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.chown", H_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.rmtree", H_PATH, GUARD_CAP_FS_WRITE, 0, 1},
    {"tempfile.mkstemp", H_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"tempfile.mkdtemp", H_PATH, GUARD_CAP_FS_WRITE, 0, -1},
    {"os.rename", H_RENAME, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.link", H_RENAME, GUARD_CAP_FS_WRITE, 0, 2},
    {"os.symlink", H_SYMLINK, GUARD_CAP_FS_WRITE, 1, 2},
    {"shutil.copyfile", H_COPY, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.copymode", H_COPY, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.copystat", H_COPY, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.copytree", H_COPY, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.move", H_MOVE, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.unpack_archive", H_UNPACK, GUARD_CAP_FS_WRITE, 0, -1},
    {"shutil.make_archive", H_ARCHIVE, GUARD_CAP_FS_WRITE, 0, -1},
    {"mmap.__new__", H_MMAP, GUARD_CAP_FS_READ, 0, -1},
    {"sqlite3.connect", H_SQLITE, GUARD_CAP_FS_WRITE, 0, -1},
    /* network */
    {"socket.connect", H_CONNECT, GUARD_CAP_NET_CONNECT, 1, -1},
    {"socket.sendto", H_CONNECT, GUARD_CAP_NET_CONNECT, 1, -1},
    {"socket.sendmsg", H_CONNECT, GUARD_CAP_NET_CONNECT, 1, -1, GUARD_EV_ADDR_OPTIONAL},
    {"socket.bind", H_BIND, GUARD_CAP_NET_BIND, 1, -1},
    {"socket.getaddrinfo", H_RESOLVE, GUARD_CAP_NET_RESOLVE, 0, -1},
    {"socket.gethostbyname", H_RESOLVE, GUARD_CAP_NET_RESOLVE, 0, -1},
    {"socket.gethostbyname_ex", H_RESOLVE, GUARD_CAP_NET_RESOLVE, 0, -1},
    {"socket.gethostbyaddr", H_RESOLVE_ADDR, GUARD_CAP_NET_RESOLVE, 0, -1},
    {"socket.getnameinfo", H_RESOLVE_ADDR, GUARD_CAP_NET_RESOLVE, 0, -1},
    /* processes */
    {"subprocess.Popen", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.system", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.exec", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.posix_spawn", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.spawn", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 1, -1},
    {"os.fork", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, -1, -1},
    {"os.forkpty", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, -1, -1},
    {"pty.spawn", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.startfile", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    /* The environment is what the host's later child processes inherit
     * (LD_PRELOAD, PATH, PYTHONPATH): changing it is part of spawning them. */
    {"os.putenv", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.unsetenv", H_SPAWN, GUARD_CAP_PROCESS_SPAWN, 0, -1},
    {"os.kill", H_SIGNAL, GUARD_CAP_PROCESS_SIGNAL, 0, -1},
    {"os.killpg", H_SIGNAL, GUARD_CAP_PROCESS_SIGNAL, 0, -1},
    {"signal.pthread_kill", H_SIGNAL, GUARD_CAP_PROCESS_SIGNAL, 0, -1},
    {"signal.pidfd_send_signal", H_SIGNAL, GUARD_CAP_PROCESS_SIGNAL, 0, -1},
    /* native code: every ctypes.* event is matched by prefix below */
    {"ctypes.dlopen", H_NATIVE, GUARD_CAP_NATIVE, 0, -1},
    /* introspection: the direct caller decides */
    {"sys._getframe", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys._getframemodulename", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys._current_frames", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys._current_exceptions", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys.settrace", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys.setprofile", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys.addaudithook", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"sys.monitoring.register_callback", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"gc.get_objects", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"gc.get_referrers", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"gc.get_referents", H_INTROSPECT, GUARD_CAP_INTROSPECTION, -1, -1},
    {"object.__getattr__", H_INTROSPECT, GUARD_CAP_INTROSPECTION, 1, -1},
    {"object.__setattr__", H_INTROSPECT, GUARD_CAP_INTROSPECTION, 1, -1},
    {"object.__delattr__", H_INTROSPECT, GUARD_CAP_INTROSPECTION, 1, -1},
    /* dynamic code: the direct caller decides */
    {"compile", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, 1, -1},
    {"exec", H_DYNCODE_TAG, GUARD_CAP_DYNAMIC_CODE, 0, -1},
    {"function.__new__", H_DYNCODE_TAG, GUARD_CAP_DYNAMIC_CODE, 0, -1},
    {"code.__new__", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, 1, -1},
    {"marshal.loads", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, -1, -1},
    {"marshal.load", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, -1, -1},
    /* Shown as "pickle.find_class module.name" (args 0 and 1). */
    {"pickle.find_class", H_DYNCODE, GUARD_CAP_DYNAMIC_CODE, -1, -1, GUARD_EV_SHOW_QUALNAME},
    /* threads (3.12+ raise these; the wrapper in thread_start() covers 3.11) */
    {"_thread.start_new_thread", H_THREAD, GUARD_CAP_THREADS, 0, -1},
    {"_thread.start_joinable_thread", H_THREAD, GUARD_CAP_THREADS, 0, -1},
    {NULL, 0, 0, 0, 0, 0},
};

const ev_entry *guard_ev_table[GUARD_EV_TABLE_SIZE];
unsigned char guard_ev_first_byte[256];
const ev_entry guard_ev_ctypes = {"ctypes.*", H_NATIVE, GUARD_CAP_NATIVE, -1, -1, 0};

void
guard_events_build(void)
{
    static int built;
    if (built)
        return;
    built = 1;
    for (const ev_entry *e = events; e->name; e++) {
        size_t len;
        uint32_t h = guard_ev_hash(e->name, &len);
        for (uint32_t i = h & (GUARD_EV_TABLE_SIZE - 1);; i = (i + 1) & (GUARD_EV_TABLE_SIZE - 1)) {
            if (guard_ev_table[i] == NULL) {
                guard_ev_table[i] = e;
                break;
            }
        }
        guard_ev_first_byte[(unsigned char)e->name[0]] = 1;
    }
}
