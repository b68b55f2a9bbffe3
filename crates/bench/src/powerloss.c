/* A power cut, simulated: an LD_PRELOAD library that keeps, beside a data directory, a copy of
 * what would survive if the power went out now (`carnet-bench crash --power-loss`).
 *
 * The process writes to POWERLOSS_ROOT as usual. The copy in POWERLOSS_SHADOW changes only when
 * the process asks the system to make something durable, and only by what that call promises:
 *   - fsync(fd) / fdatasync(fd) of a file under the root: the file's content (and its name, as
 *     ext4 and XFS commit a new file's name with it) as it is when the call returns;
 *   - fsync of a directory under the root: removals of names in it become durable;
 *   - syncfs(fd) of a directory under the root: that directory's tree, mirrored whole — as if it
 *     were a filesystem of its own (the strict case: blobs on their own disk, so a blob flush never
 *     makes the databases beside them durable by chance); sync(): the whole root.
 * Everything else (writes, renames, removals not yet flushed) is lost when the process is killed
 * and the copy is taken as the disk after the cut. SQLite's shared-memory index (`*-shm`) is never
 * copied: SQLite rebuilds it. Each file is replaced in the copy atomically (written beside, then
 * renamed), so a kill in the middle of a flush leaves the previous durable version. The real call
 * is made first; a failed flush changes nothing in the copy. */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static char root[PATH_MAX];
static char shadow[PATH_MAX];
static size_t root_len;
static int enabled;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static void (*real_sync)(void);

__attribute__((constructor)) static void init(void) {
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_syncfs = dlsym(RTLD_NEXT, "syncfs");
    real_sync = dlsym(RTLD_NEXT, "sync");
    const char *r = getenv("POWERLOSS_ROOT"), *s = getenv("POWERLOSS_SHADOW");
    if (r && s && realpath(r, root) && realpath(s, shadow)) {
        root_len = strlen(root);
        enabled = 1;
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The path of `fd` relative to the root ("" for the root itself), or -1 if elsewhere. */
static int relative_path(int fd, char *rel) {
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return -1;
    path[n] = 0;
    if (ends_with(path, " (deleted)")) return -1;
    if (strncmp(path, root, root_len) != 0 || (path[root_len] != '/' && path[root_len] != 0)) return -1;
    snprintf(rel, PATH_MAX, "%s", path[root_len] == '/' ? path + root_len + 1 : "");
    return 0;
}

static void join(char *out, const char *base, const char *rel) {
    if (*rel) snprintf(out, PATH_MAX, "%s/%s", base, rel);
    else snprintf(out, PATH_MAX, "%s", base);
}

static void make_parents(const char *path) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (char *c = p + strlen(shadow) + 1; *c; c++) {
        if (*c == '/') {
            *c = 0;
            mkdir(p, 0700);
            *c = '/';
        }
    }
}

/* Copies root/rel over shadow/rel, atomically; keeps the source's size and mtime to skip
 * unchanged files in a mirror. */
static void copy_file(const char *rel) {
    char src[PATH_MAX], dst[PATH_MAX], tmp[PATH_MAX + 32];
    if (ends_with(rel, "-shm")) return;
    join(src, root, rel);
    join(dst, shadow, rel);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return;
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return;
    }
    make_parents(dst);
    snprintf(tmp, sizeof tmp, "%s.powerloss-%d", dst, (int)gettid());
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return;
    }
    char buf[1 << 16];
    ssize_t n;
    int ok = 1;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, n - done);
            if (w <= 0) {
                ok = 0;
                break;
            }
            done += w;
        }
        if (!ok) break;
    }
    if (n < 0) ok = 0;
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    futimens(out, times);
    close(out);
    close(in);
    if (ok) rename(tmp, dst);
    else unlink(tmp);
}

/* Removes from the copy of directory `rel` the entries gone from the original. */
static void drop_removed(const char *rel) {
    char sdir[PATH_MAX], sp[PATH_MAX], rp[PATH_MAX], child[PATH_MAX];
    join(sdir, shadow, rel);
    DIR *d = opendir(sdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || strstr(e->d_name, ".powerloss-")) continue;
        if (*rel) snprintf(child, sizeof child, "%s/%s", rel, e->d_name);
        else snprintf(child, sizeof child, "%s", e->d_name);
        join(rp, root, child);
        join(sp, shadow, child);
        struct stat st;
        if (lstat(rp, &st) != 0) {
            if (unlink(sp) != 0 && errno == EISDIR) rmdir(sp);
        }
    }
    closedir(d);
}

/* Mirrors the tree at root/rel into the copy: changed files copied, removed ones dropped. */
static void mirror(const char *rel) {
    char rdir[PATH_MAX], rp[PATH_MAX], sp[PATH_MAX], child[PATH_MAX];
    join(rdir, root, rel);
    join(sp, shadow, rel);
    make_parents(sp);
    mkdir(sp, 0700);
    DIR *d = opendir(rdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (*rel) snprintf(child, sizeof child, "%s/%s", rel, e->d_name);
        else snprintf(child, sizeof child, "%s", e->d_name);
        join(rp, root, child);
        join(sp, shadow, child);
        struct stat rs, ss;
        if (lstat(rp, &rs) != 0) continue;
        if (S_ISDIR(rs.st_mode)) {
            mirror(child);
        } else if (S_ISREG(rs.st_mode)) {
            if (stat(sp, &ss) == 0 && ss.st_size == rs.st_size && ss.st_mtim.tv_sec == rs.st_mtim.tv_sec &&
                ss.st_mtim.tv_nsec == rs.st_mtim.tv_nsec)
                continue;
            copy_file(child);
        }
    }
    closedir(d);
    drop_removed(rel);
}

static void after_file_flush(int fd) {
    char rel[PATH_MAX];
    struct stat st;
    if (!enabled || relative_path(fd, rel) != 0 || fstat(fd, &st) != 0) return;
    pthread_mutex_lock(&lock);
    if (S_ISREG(st.st_mode)) copy_file(rel);
    else if (S_ISDIR(st.st_mode)) drop_removed(rel);
    pthread_mutex_unlock(&lock);
}

int fsync(int fd) {
    int r = real_fsync(fd);
    if (r == 0) after_file_flush(fd);
    return r;
}

int fdatasync(int fd) {
    int r = real_fdatasync(fd);
    if (r == 0) after_file_flush(fd);
    return r;
}

int syncfs(int fd) {
    int r = real_syncfs(fd);
    char rel[PATH_MAX];
    struct stat st;
    if (r == 0 && enabled && relative_path(fd, rel) == 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        pthread_mutex_lock(&lock);
        mirror(rel);
        pthread_mutex_unlock(&lock);
    }
    return r;
}

void sync(void) {
    real_sync();
    if (enabled) {
        pthread_mutex_lock(&lock);
        mirror("");
        pthread_mutex_unlock(&lock);
    }
}
