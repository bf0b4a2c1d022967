/*
 * A guard around librdkafka's handling of leader hints (KIP-951), linked in with
 * `--wrap=rd_kafka_metadata_update_op` (see build.rs and kafka/mod.rs, "Brokers").
 *
 * A Fetch answer may carry, per partition, a `CurrentLeader` tag; librdkafka 2.12 turns those
 * into a metadata update that names each topic by its topic id only (the name is NULL). When
 * the id in the answer is zero, rd_kafka_metadata_update_op() looks the topic up *by name*,
 * and its strcmp() dereferences the NULL name: the process dies with SIGSEGV. A broker that
 * does not know the topic id a fetch asked for (a broker that lost its data and made the topic
 * again, under a new id) answers that way: tansu 0.6 sends a zero id with UNKNOWN_TOPIC_OR_PARTITION
 * and a CurrentLeader tag on every partition.
 *
 * The guard drops, from such an update, the topics that have neither a name nor an id (there
 * is nothing to update them by), and hands the rest to librdkafka. The regular metadata
 * refresh finds the leaders of those topics as it would without hints.
 */
#include "rdkafka_int.h"
#include "rdkafka_metadata.h"

/* Weak: a binary linked without --wrap has no __real_ symbol and never calls the guard. */
extern rd_kafka_op_res_t
__real_rd_kafka_metadata_update_op(rd_kafka_t *rk,
                                   rd_kafka_metadata_internal_t *mdi)
    __attribute__((weak));

rd_kafka_op_res_t
__wrap_rd_kafka_metadata_update_op(rd_kafka_t *rk,
                                   rd_kafka_metadata_internal_t *mdi) {
        rd_kafka_metadata_t *md = &mdi->metadata;
        int i, kept = 0;

        for (i = 0; i < md->topic_cnt; i++) {
                if (!md->topics[i].topic &&
                    RD_KAFKA_UUID_IS_ZERO(mdi->topics[i].topic_id))
                        continue;
                if (kept != i) {
                        md->topics[kept]  = md->topics[i];
                        mdi->topics[kept] = mdi->topics[i];
                }
                kept++;
        }
        md->topic_cnt = kept;

        if (!__real_rd_kafka_metadata_update_op)
                return RD_KAFKA_OP_RES_HANDLED;
        return __real_rd_kafka_metadata_update_op(rk, mdi);
}
