/* The Kalray MPPA twin's host tools (kann_opencl_cnn, kvx-jtag-runner), as a small native
 * program: it hands its command line and working directory to the twin's MPPA device (a Unix
 * socket, the twin's /dev/mppa0) and shows what the device answers, exiting with its status.
 * No interpreter starts and nothing is imported per run: the device keeps the networks it has
 * loaded.
 *
 *     mppa_twin_tool SOCKET TOOL [ARGS...]
 *
 * Request: TOOL, the working directory, then each argument, each ending in a NUL byte; the
 * client then shuts down its sending side. Answer: "<status> <stdout bytes> <stderr bytes>\n"
 * followed by those bytes. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int send_all(int fd, const char *text) {
    size_t left = strlen(text) + 1; /* with its NUL */
    while (left > 0) {
        ssize_t n = write(fd, text, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        text += n;
        left -= (size_t)n;
    }
    return 0;
}

static int copy(FILE *in, FILE *out, long count) {
    char buf[65536];
    while (count > 0) {
        size_t want = count < (long)sizeof buf ? (size_t)count : sizeof buf;
        size_t got = fread(buf, 1, want, in);
        if (got == 0) return -1;
        fwrite(buf, 1, got, out);
        count -= (long)got;
    }
    fflush(out);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s SOCKET TOOL [ARGS...]\n", argv[0]);
        return 2;
    }
    const char *tool = argv[2];
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) {
        fprintf(stderr, "%s: cannot read the working directory: %s\n", tool, strerror(errno));
        return 2;
    }
    /* The socket's directory may be deep: connect by its name from inside it. */
    char dir[PATH_MAX];
    const char *name = argv[1];
    const char *slash = strrchr(argv[1], '/');
    if (slash != NULL) {
        size_t n = (size_t)(slash - argv[1]);
        if (n >= sizeof dir) n = sizeof dir - 1;
        memcpy(dir, argv[1], n);
        dir[n] = '\0';
        name = slash + 1;
        if (chdir(n ? dir : "/") != 0) {
            fprintf(stderr, "%s: cannot reach the MPPA at %s: %s\n", tool, argv[1], strerror(errno));
            return 1;
        }
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(name) >= sizeof addr.sun_path) {
        fprintf(stderr, "%s: MPPA socket name too long: %s\n", tool, name);
        return 1;
    }
    strcpy(addr.sun_path, name);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "%s: cannot reach the MPPA at %s: %s\n", tool, argv[1], strerror(errno));
        return 1;
    }
    if (chdir(cwd) != 0) {
        fprintf(stderr, "%s: cannot return to %s: %s\n", tool, cwd, strerror(errno));
        return 2;
    }
    int failed = send_all(fd, tool) || send_all(fd, cwd);
    for (int i = 3; i < argc && !failed; i++) failed = send_all(fd, argv[i]);
    if (failed || shutdown(fd, SHUT_WR) != 0) {
        fprintf(stderr, "%s: the MPPA closed the connection: %s\n", tool, strerror(errno));
        return 1;
    }
    FILE *in = fdopen(fd, "rb");
    int status;
    long out_len, err_len;
    if (in == NULL || fscanf(in, "%d %ld %ld", &status, &out_len, &err_len) != 3 ||
        fgetc(in) != '\n') {
        fprintf(stderr, "%s: the MPPA gave no answer\n", tool);
        return 1;
    }
    if (copy(in, stdout, out_len) != 0 || copy(in, stderr, err_len) != 0) {
        fprintf(stderr, "%s: the MPPA's answer was cut short\n", tool);
        return 1;
    }
    return status;
}
