/*
 * group_zkserver — run a throwaway ZooKeeper server for the group tests.
 *
 *   group_zkserver [DIR]
 *
 * Starts Debian's ZooKeeper (java -cp /usr/share/java/zookeeper.jar
 * org.apache.zookeeper.server.ZooKeeperServerMain) with a generated config
 * on a free 127.0.0.1 port (data and log in DIR, or a fresh temporary
 * directory removed at the end), waits up to 30 s for it to answer, prints
 * "PORT <n>" on stdout and then runs until its stdin reaches end of file
 * (or it gets SIGTERM/SIGINT), when it stops the server. When the package
 * or Java is missing it prints "SKIP: <reason>" and exits 77. Fast ticks
 * (200 ms) let sessions of dead processes expire in under a second or
 * two, as the tests want.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/testutil.h"

#define ZK_JAR "/usr/share/java/zookeeper.jar"

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* The server answers "srvr" with its status once it serves clients. */
static int answers(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0)
        return 0;
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, "srvr", 4) == 4) {
        char buf[512];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 2000) == 1) {
            ssize_t n = read(fd, buf, sizeof buf - 1);
            if (n > 0) {
                buf[n] = 0;
                ok = strstr(buf, "Mode:") != NULL;
            }
        }
    }
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    if (access(ZK_JAR, R_OK) != 0) {
        printf("SKIP: %s missing (Debian package zookeeper not installed)\n", ZK_JAR);
        return 77;
    }
    if (access("/usr/bin/java", X_OK) != 0) {
        printf("SKIP: /usr/bin/java missing (no Java runtime)\n");
        return 77;
    }
    char *dir = argc > 1 ? strdup(argv[1]) : tu_tmpdir("zk");
    int own_dir = argc <= 1;
    int port = free_port();
    if (port <= 0) {
        printf("ERROR: no free port\n");
        return 1;
    }
    char cfg[1024], data[1024], logf[1024];
    snprintf(cfg, sizeof cfg, "%s/zoo.cfg", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(logf, sizeof logf, "%s/zookeeper.log", dir);
    FILE *f = fopen(cfg, "w");
    if (!f) {
        printf("ERROR: cannot write %s\n", cfg);
        return 1;
    }
    fprintf(f,
            "tickTime=200\ndataDir=%s\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
            "maxClientCnxns=0\nadmin.enableServer=false\nminSessionTimeout=400\n"
            "maxSessionTimeout=60000\n4lw.commands.whitelist=srvr,ruok\n",
            data, port);
    fclose(f);

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        FILE *lf = freopen(logf, "w", stdout);
        (void)lf;
        dup2(1, 2);
        close(0);
        execl("/usr/bin/java", "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
              "-cp", ZK_JAR, "org.apache.zookeeper.server.ZooKeeperServerMain", cfg, (char *)NULL);
        _exit(127);
    }
    int ready = 0, st;
    for (int i = 0; i < 300 && !ready && !stop; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            printf("ERROR: zookeeper exited during start (log: %s)\n", logf);
            return 1;
        }
        ready = answers(port);
        if (!ready)
            usleep(100000);
    }
    if (!ready) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        printf("ERROR: zookeeper did not answer within 30 s (log: %s)\n", logf);
        return 1;
    }
    printf("PORT %d\n", port);
    fflush(stdout);
    /* Run until stdin closes or a signal arrives. */
    while (!stop) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int n = poll(&p, 1, 200);
        if (n == 1) {
            char c[64];
            if (read(0, c, sizeof c) <= 0)
                break;
        }
        if (waitpid(pid, &st, WNOHANG) == pid) {
            pid = -1;
            break;
        }
    }
    if (pid > 0) {
        kill(pid, SIGTERM);
        int waited = 0;
        while (waitpid(pid, &st, WNOHANG) == 0 && waited < 50) {
            usleep(100000);
            waited++;
        }
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    if (own_dir)
        tu_rmtree(dir);
    free(dir);
    return 0;
}
