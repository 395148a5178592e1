#!/usr/bin/env bash
# A single-node Apache Kafka 4.x (KRaft: broker + controller) on 127.0.0.1, for local use and tests.
#
#   deploy/local/kafka.sh fetch|start|stop|status|logs|reset
#
# The jars come from Maven Central through Maven (org.apache.kafka:kafka_2.13 plus log4j2's SLF4J
# binding, which the published POM lacks, so the broker really logs) into a cache outside the repo.
# Everything is configurable through the environment:
#   SETPOINT_KAFKA_VERSION   (4.1.1)        SETPOINT_KAFKA_PORT        (19092)
#   SETPOINT_KAFKA_CONTROLLER_PORT (19093)  SETPOINT_KAFKA_HEAP        (512m)
#   SETPOINT_KAFKA_HOME  cache of jars      (~/.cache/setpoint/kafka-$VERSION)
#   SETPOINT_KAFKA_DATA  data, config, log, pid  (~/.local/state/setpoint/kafka-$PORT)
# Starting twice is harmless; `start` returns once the broker answers, or fails with the log tail.
set -euo pipefail

VERSION=${SETPOINT_KAFKA_VERSION:-4.1.1}
LOG4J_VERSION=${SETPOINT_LOG4J_VERSION:-2.25.3}
SLF4J_VERSION=${SETPOINT_SLF4J_VERSION:-2.0.17}
PORT=${SETPOINT_KAFKA_PORT:-19092}
CPORT=${SETPOINT_KAFKA_CONTROLLER_PORT:-19093}
HEAP=${SETPOINT_KAFKA_HEAP:-512m}
HOME_DIR=${SETPOINT_KAFKA_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/setpoint/kafka-$VERSION}
DATA=${SETPOINT_KAFKA_DATA:-${XDG_STATE_HOME:-$HOME/.local/state}/setpoint/kafka-$PORT}
LIB=$HOME_DIR/lib
PIDFILE=$DATA/kafka.pid
LOG=$DATA/kafka.log
START_TIMEOUT=${SETPOINT_KAFKA_START_TIMEOUT:-90}

die() { echo "kafka.sh: $*" >&2; exit 1; }

need() {
  command -v java >/dev/null || die "Java is missing: install a JDK 17+ (java on PATH) to run Kafka."
  java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' \
    || die "Kafka 4 needs Java 17 or newer; found: $(java -version 2>&1 | head -1)"
}

fetch() {
  [ -f "$LIB/.complete" ] && return 0
  command -v mvn >/dev/null || die "Maven is missing: install Apache Maven (mvn on PATH) to fetch Kafka."
  mkdir -p "$HOME_DIR"
  cat >"$HOME_DIR/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.setpoint</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
  echo "kafka.sh: fetching Kafka $VERSION from Maven Central into $LIB" >&2
  rm -rf "$LIB"
  (cd "$HOME_DIR" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$LIB") \
    || die "Maven could not fetch org.apache.kafka:kafka_2.13:$VERSION (see the output above)."
  touch "$LIB/.complete"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

answers() {
  # A broker answers when its port accepts a connection and the log says it started.
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && grep -q "Kafka Server started" "$LOG" 2>/dev/null
}

configure() {
  mkdir -p "$DATA"
  cat >"$DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA/logs
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=67108864
delete.topic.enable=true
PROPS
  cat >"$DATA/log4j2.yaml" <<'L4J'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
L4J
}

start() {
  need
  fetch
  if running; then
    answers && { echo "kafka.sh: already running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; return 0; }
  else
    configure
    if [ ! -f "$DATA/logs/meta.properties" ]; then
      java -cp "$LIB/*" kafka.tools.StorageTool format --standalone \
        -t "$(java -cp "$LIB/*" kafka.tools.StorageTool random-uuid)" \
        -c "$DATA/server.properties" >>"$LOG" 2>&1 || { tail -20 "$LOG" >&2; die "storage format failed"; }
    fi
    nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$DATA/log4j2.yaml" -cp "$LIB/*" \
      kafka.Kafka "$DATA/server.properties" >"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 1 $((START_TIMEOUT * 4))); do
    answers && { echo "kafka.sh: Kafka $VERSION up on 127.0.0.1:$PORT (log: $LOG)"; return 0; }
    running || { tail -30 "$LOG" >&2; die "the broker exited during start-up (log: $LOG)"; }
    sleep 0.25
  done
  tail -30 "$LOG" >&2
  die "the broker did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT}s (log: $LOG)"
}

stop() {
  running || { rm -f "$PIDFILE"; echo "kafka.sh: not running"; return 0; }
  local pid; pid=$(cat "$PIDFILE")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  echo "kafka.sh: stopped"
}

status() {
  if running && answers; then echo "running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; return 0; fi
  echo "not running"; return 3
}

case "${1:-}" in
  fetch) need; fetch ;;
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  logs) tail -n "${2:-50}" "$LOG" ;;
  reset) stop; rm -rf "$DATA"; echo "kafka.sh: data removed ($DATA)" ;;
  *) echo "usage: $0 fetch|start|stop|restart|status|logs [N]|reset" >&2; exit 2 ;;
esac
