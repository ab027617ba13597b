#!/usr/bin/env node
/*
 * steady-client: the independent OPC UA client of bench/steady (node-opcua).
 *
 * Connects anonymously on the SecurityPolicy None endpoint, creates ONE
 * subscription holding every NodeId listed in --nodes, and counts the data
 * change notifications that arrive. It is what a SCADA does with a gateway:
 * subscribe to everything once, then listen.
 *
 * Usage:
 *   node client.js --url opc.tcp://127.0.0.1:4840/ --namespace urn:edge-gateway:NAME:tags
 *                  --nodes FILE [--publish-ms 250] [--sampling-ms N] [--batch 5000]
 *                  [--duration 600] [--pki DIR]
 *
 *   --nodes FILE    one string NodeId identifier per line ("device.tag"); the
 *                   namespace index is looked up from --namespace, never assumed
 *   --publish-ms    requested publishing interval (default 250)
 *   --sampling-ms   requested sampling interval (default: the publishing interval,
 *                   as a SCADA asks for the rate it displays at)
 *   --batch         monitored items per CreateMonitoredItems call (default 5000;
 *                   lowered to the server's MaxMonitoredItemsPerCall when smaller)
 *   --duration      seconds after which the client stops by itself (default 600)
 *   --pki DIR       where node-opcua keeps the client certificate (default: a
 *                   folder beside this file, git-ignored)
 *
 * Monitored items: queueSize 1 with discardOldest (only the latest value
 * matters to a display), a DataChangeFilter with trigger StatusValue (what
 * SCADA clients send, and what the gateway's README asks for), timestamps Both.
 *
 * Output, one JSON object per line on stdout:
 *   {"event":"subscribed", items, failed, seconds, batch, revised_publish_ms, ...}
 *   {"event":"tick", time, notifications, messages, ...}   every second, cumulative
 *   {"event":"summary", ...}                               on SIGTERM/SIGINT or --duration
 * Progress and errors go to stderr. Exit status 0 after a summary, 1 on failure.
 */
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const {
    OPCUAClient,
    MessageSecurityMode,
    SecurityPolicy,
    AttributeIds,
    TimestampsToReturn,
    DataChangeFilter,
    DataChangeTrigger,
    DeadbandType,
    resolveNodeId,
} = require("node-opcua-client");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");

/** Read limit node: Server/ServerCapabilities/OperationLimits/MaxMonitoredItemsPerCall. */
const MAX_ITEMS_PER_CALL = "Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall";
/** StatusCode severity bits (Good = 00) and the DataValue InfoBits Overflow bit (OPC UA Part 4, 7.39.1). */
const SEVERITY_MASK = 0xc0000000;
const OVERFLOW_BIT = 0x80;
/** How long shutdown (closing the session) may take before the client exits anyway. */
const SHUTDOWN_MS = 5000;

function parseArgs(argv) {
    const opts = { publishMs: 250, samplingMs: null, batch: 5000, duration: 600, pki: path.join(__dirname, ".pki") };
    const names = {
        "--url": "url", "--namespace": "namespace", "--nodes": "nodes", "--publish-ms": "publishMs",
        "--sampling-ms": "samplingMs", "--batch": "batch", "--duration": "duration", "--pki": "pki",
    };
    for (let i = 2; i < argv.length; i += 2) {
        const key = names[argv[i]];
        if (!key || i + 1 >= argv.length) {
            throw new Error(`unknown or incomplete option ${argv[i]} (see the header of client.js)`);
        }
        opts[key] = argv[i + 1];
    }
    for (const k of ["url", "namespace", "nodes"]) {
        if (!opts[k]) throw new Error(`--${k} is required`);
    }
    for (const k of ["publishMs", "batch", "duration"]) opts[k] = Number(opts[k]);
    opts.samplingMs = opts.samplingMs === null ? opts.publishMs : Number(opts.samplingMs);
    return opts;
}

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + "\n");
}

async function main() {
    const opts = parseArgs(process.argv);
    const ids = fs.readFileSync(opts.nodes, "utf8").split("\n").filter((l) => l.length > 0);
    const counts = {
        notifications: 0, // data change notifications (one per item per change)
        messages: 0, // NotificationMessages carrying data
        keepalives: 0,
        sequence_gaps: 0, // NotificationMessages the client never saw (sequence numbers skipped)
        status_changes: 0, // StatusChangeNotifications (e.g. subscription timed out)
        not_good: 0, // notifications whose StatusCode is Uncertain or Bad
        overflow: 0, // notifications with the Overflow info bit (values dropped from the queue)
    };
    let lastSeq = null;
    let stopping = false;

    const certificateManager = new OPCUACertificateManager({ rootFolder: opts.pki, automaticallyAcceptUnknownCertificate: true });
    const client = OPCUAClient.create({
        applicationName: "edge-gateway-steady-client",
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        endpointMustExist: false,
        clientCertificateManager: certificateManager,
        connectionStrategy: { maxRetry: 3, initialDelay: 500, maxDelay: 2000 },
        requestedSessionTimeout: 60000,
        defaultTransactionTimeout: 120000,
        keepSessionAlive: true,
    });
    client.on("backoff", (n, delay) => process.stderr.write(`steady-client: connect retry ${n} in ${delay} ms\n`));

    let session = null;
    let ticker = null;
    const startedAt = Date.now();
    let subscribedAt = null;

    const stop = async (reason) => {
        if (stopping) return;
        stopping = true;
        if (ticker) clearInterval(ticker);
        const hard = setTimeout(() => process.exit(0), SHUTDOWN_MS);
        hard.unref();
        emit({ event: "summary", reason, time: Date.now() / 1000, seconds: (Date.now() - (subscribedAt || startedAt)) / 1000, ...counts });
        try {
            if (session) await session.close(true);
            await client.disconnect();
        } catch (e) {
            process.stderr.write(`steady-client: close: ${e.message}\n`);
        }
        process.exit(0);
    };
    process.on("SIGTERM", () => stop("sigterm"));
    process.on("SIGINT", () => stop("sigint"));
    setTimeout(() => stop("duration"), opts.duration * 1000).unref();

    await client.connect(opts.url);
    session = await client.createSession(); // anonymous
    const nsArray = (await session.read({ nodeId: resolveNodeId("Server_NamespaceArray"), attributeId: AttributeIds.Value })).value.value;
    const ns = nsArray.indexOf(opts.namespace);
    if (ns < 0) throw new Error(`namespace ${opts.namespace} not in the server's NamespaceArray`);
    const limit = (await session.read({ nodeId: resolveNodeId(MAX_ITEMS_PER_CALL), attributeId: AttributeIds.Value })).value.value;
    const batch = limit > 0 ? Math.min(opts.batch, limit) : opts.batch;

    const subscription = await session.createSubscription2({
        requestedPublishingInterval: opts.publishMs,
        requestedLifetimeCount: 1000,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 0, // no client-side cap: the server's own limits apply
        publishingEnabled: true,
        priority: 1,
    });
    subscription.on("raw_notification", (msg) => {
        const data = msg.notificationData || [];
        if (lastSeq !== null && msg.sequenceNumber > lastSeq + 1 && data.length > 0) {
            counts.sequence_gaps += msg.sequenceNumber - lastSeq - 1;
        }
        if (data.length === 0) {
            counts.keepalives += 1;
            return;
        }
        lastSeq = msg.sequenceNumber;
        counts.messages += 1;
        for (const n of data) {
            if (n.monitoredItems) {
                counts.notifications += n.monitoredItems.length;
                for (const m of n.monitoredItems) {
                    const code = m.value && m.value.statusCode ? m.value.statusCode.value : 0;
                    if (code & SEVERITY_MASK) counts.not_good += 1;
                    if (code & OVERFLOW_BIT) counts.overflow += 1;
                }
            } else if (n.schema && n.schema.name === "StatusChangeNotification") {
                counts.status_changes += 1;
            }
        }
    });
    subscription.on("status_changed", (status) => process.stderr.write(`steady-client: subscription status ${status.toString()}\n`));

    const parameters = {
        samplingInterval: opts.samplingMs,
        queueSize: 1,
        discardOldest: true,
        filter: new DataChangeFilter({ trigger: DataChangeTrigger.StatusValue, deadbandType: DeadbandType.None }),
    };
    const t0 = Date.now();
    let created = 0;
    let failed = 0;
    for (let i = 0; i < ids.length && !stopping; i += batch) {
        const items = ids.slice(i, i + batch).map((s) => ({ nodeId: `ns=${ns};s=${s}`, attributeId: AttributeIds.Value }));
        const group = await subscription.monitorItems(items, parameters, TimestampsToReturn.Both);
        for (const item of group.monitoredItems) {
            if (item.statusCode && item.statusCode.isGood()) created += 1;
            else failed += 1;
        }
    }
    subscribedAt = Date.now();
    emit({
        event: "subscribed", items: created, failed, seconds: (subscribedAt - t0) / 1000, batch,
        revised_publish_ms: subscription.publishingInterval, sampling_ms: opts.samplingMs, time: subscribedAt / 1000,
    });
    ticker = setInterval(() => emit({ event: "tick", time: Date.now() / 1000, ...counts }), 1000);
}

main().catch((e) => {
    process.stderr.write(`steady-client: ${e.stack || e.message}\n`);
    process.exit(1);
});
