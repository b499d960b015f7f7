/*
 * kafka-mock — a Kafka-protocol broker for the test suite.
 *
 * No Kafka broker can be installed on the test machines, but librdkafka ships
 * a mock cluster (rdkafka_mock.h) that speaks the real protocol over TCP on
 * 127.0.0.1: produce (idempotent, acks=all), fetch, consumer groups with
 * offset commits, topic auto-creation. This program owns one such cluster for
 * its whole life so that separate processes (our bus code, kcat, the server
 * and worker binaries) can talk to it like to a real broker.
 *
 * Usage: kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--exit-with PID]
 *                   BOOTSTRAP_FILE
 *
 * It writes the bootstrap string ("127.0.0.1:PORT[,...]") to BOOTSTRAP_FILE
 * atomically (temp file + rename, so a reader never sees half a line), then
 * waits for SIGTERM or SIGINT, destroys the cluster and exits 0. With
 * --exit-with PID it also exits (within half a second) once process PID is
 * gone, so a test runner killed with SIGKILL does not leave a broker behind. Everything
 * is in memory: the data is gone when the process ends. Ports are random
 * (the mock has no fixed-port option).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static int usage(const char *msg) {
  if (msg)
    fprintf(stderr, "kafka-mock: %s\n", msg);
  fprintf(stderr, "usage: kafka-mock [--brokers N] [--topic NAME:PARTITIONS]... [--exit-with PID] BOOTSTRAP_FILE\n");
  return 2;
}

static int write_atomic(const char *path, const char *text, char *err, size_t errlen) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    snprintf(err, errlen, "%s: path too long", path);
    return -1;
  }
  FILE *f = fopen(tmp, "w");
  if (!f) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    return -1;
  }
  int bad = fprintf(f, "%s\n", text) < 0;
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    remove(tmp);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  int brokers = 1;
  const char *file = NULL;
  const char *topics[64];
  int ntopics = 0;
  long watch = 0;

  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(NULL);
      return 0;
    } else if (!strcmp(argv[i], "--brokers") && i + 1 < argc) {
      char *end;
      long n = strtol(argv[++i], &end, 10);
      if (*end || n < 1 || n > 16)
        return usage("--brokers takes 1..16");
      brokers = (int)n;
    } else if (!strcmp(argv[i], "--exit-with") && i + 1 < argc) {
      char *end;
      watch = strtol(argv[++i], &end, 10);
      if (*end || watch < 1)
        return usage("--exit-with takes a PID");
    } else if (!strcmp(argv[i], "--topic") && i + 1 < argc) {
      if (ntopics == 64)
        return usage("at most 64 --topic");
      topics[ntopics++] = argv[++i];
    } else if (argv[i][0] == '-') {
      return usage("unknown option");
    } else if (!file) {
      file = argv[i];
    } else {
      return usage("one BOOTSTRAP_FILE only");
    }
  }
  if (!file)
    return usage("BOOTSTRAP_FILE is required");

  /* Block the stop signals before librdkafka starts its threads, so that
   * only sigwait() below receives them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* The handle only hosts the cluster; keep it quiet. */
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "kafka-mock: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "kafka-mock: rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "kafka-mock: could not create the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }

  int rc = 0;
  for (int i = 0; i < ntopics && rc == 0; i++) {
    char name[256];
    const char *colon = strrchr(topics[i], ':');
    long parts = 4;
    size_t n = colon ? (size_t)(colon - topics[i]) : strlen(topics[i]);
    if (colon) {
      char *end;
      parts = strtol(colon + 1, &end, 10);
      if (*end || parts < 1 || parts > 1000) {
        fprintf(stderr, "kafka-mock: --topic %s: partitions must be 1..1000\n", topics[i]);
        rc = 2;
        break;
      }
    }
    if (n == 0 || n >= sizeof name) {
      fprintf(stderr, "kafka-mock: --topic %s: bad name\n", topics[i]);
      rc = 2;
      break;
    }
    memcpy(name, topics[i], n);
    name[n] = 0;
    rd_kafka_resp_err_t e =
        rd_kafka_mock_topic_create(mc, name, (int)parts, brokers < 3 ? brokers : 3);
    if (e) {
      fprintf(stderr, "kafka-mock: create topic %s: %s\n", name, rd_kafka_err2str(e));
      rc = 1;
    }
  }

  if (rc == 0) {
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
    char err[4200];
    if (write_atomic(file, bs, err, sizeof err) != 0) {
      fprintf(stderr, "kafka-mock: %s\n", err);
      rc = 1;
    } else {
      fprintf(stderr, "kafka-mock: listening on %s (written to %s)\n", bs, file);
      struct timespec half = {0, 500 * 1000000L};
      for (;;) {
        int sig = sigtimedwait(&stop, NULL, &half);
        if (sig > 0) {
          fprintf(stderr, "kafka-mock: signal %d, stopping\n", sig);
          break;
        }
        if (watch && kill((pid_t)watch, 0) != 0 && errno == ESRCH) {
          fprintf(stderr, "kafka-mock: process %ld is gone, stopping\n", watch);
          break;
        }
      }
    }
  }

  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return rc;
}
