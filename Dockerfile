# One image per service, built from the same sources (docker-compose.yml).
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential pkg-config libfcgi-dev libmicrohttpd-dev libpq-dev libhiredis-dev \
        libcjson-dev libinih-dev libcurl4-openssl-dev libssl-dev libcmocka-dev libargon2-dev \
        libwslay-dev && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN make -C /src all

FROM debian:12 AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends \
        libfcgi0ldbl libmicrohttpd12 libpq5 libhiredis0.14 libcjson1 libinih1 libcurl4 \
        libssl3 libargon2-1 libwslay1 postgresql-client ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system chat \
    && mkdir -p /var/lib/chat/run /var/lib/chat/secrets && chown -R chat /var/lib/chat
COPY --from=build /src/build/chat-api /src/build/chat-push /usr/local/bin/
COPY db /opt/chat/db
COPY conf/chat.conf /etc/chat/chat.conf
ENV CHAT_CONF=/etc/chat/chat.conf CHAT_HOME=/var/lib/chat
USER chat

# Redis wants a password (requirepass): the services read it from a file,
# written here from $REDIS_PASSWORD (never on a command line).
FROM runtime AS chat-api
ENV CHAT_REDIS_PASSWORD_FILE=/tmp/redis.pass
CMD ["sh", "-c", "umask 077 && printf '%s\\n' \"$REDIS_PASSWORD\" >/tmp/redis.pass && exec chat-api"]

FROM runtime AS chat-push
ENV CHAT_REDIS_PASSWORD_FILE=/tmp/redis.pass
CMD ["sh", "-c", "umask 077 && printf '%s\\n' \"$REDIS_PASSWORD\" >/tmp/redis.pass && exec chat-push"]

FROM runtime AS migrate
CMD ["/opt/chat/db/setup.sh"]

FROM debian:12 AS nginx
RUN apt-get update && apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/*
COPY www /srv/chat/www
COPY conf/nginx.conf.in /etc/chat/nginx.conf.in
RUN mkdir -p /var/lib/chat/run /var/lib/chat/log /var/lib/chat/nginx/tmp \
    && sed -e 's|@HOME@|/var/lib/chat|g' -e 's|@ROOT@|/srv/chat|g' -e 's|@PORT@|8080|g' \
           -e 's|@PUSH_HOST@|chat-push|g' -e 's|@PUSH_PORT@|8081|g' \
           -e 's|@PUSH_WS_PORT@|8085|g' -e 's|@PUSH_POLL_PORT@|8086|g' \
           -e 's|listen 127.0.0.1:8080|listen 8080|' \
           /etc/chat/nginx.conf.in > /etc/chat/nginx.conf
CMD ["nginx", "-p", "/var/lib/chat/nginx", "-c", "/etc/chat/nginx.conf"]
