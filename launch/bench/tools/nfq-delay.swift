// nfq-delay: holds every packet of one NFQUEUE for a fixed time, then lets it through.
//
//   nfq-delay --queue N --delay-ms D
//
// This kernel has no `tc netem`; NFQUEUE hands packets to a program instead. Inside a node's network
// namespace (launch/bench/scaling.sh does both):
//   ip netns exec NODE nfq-delay --queue 7 --delay-ms 20 &
//   ip netns exec NODE iptables -I INPUT -i eth0 -j NFQUEUE --queue-num 7 --queue-bypass
// every packet the node receives arrives D ms late: each round trip with that node takes D ms longer.
// (On OUTPUT, TCP Small Queues throttles the node's connections to ~2 packets per delay: see
// launch/bench/scaling.sh.)
// `--queue-bypass` lets packets pass when no program holds the queue, so the rule alone changes nothing.
//
// Packets arrive in order and wait the same time, so the held ones form a FIFO: the loop sleeps
// (ppoll) until the oldest is due or a packet comes, gives the verdicts that are due, and reads what
// came. Only the packets' metadata is copied to this process (NFQNL_COPY_META). "ready" on stdout
// says the queue is bound. SIGTERM or SIGINT: every held packet is let through, the totals go to
// stderr, exit 0.
//
// Built by launch/bench/scaling.sh (not by Package.swift, so training needs no libnetfilter_queue):
//   swiftc -O -I launch/bench/tools/CNetfilterQueue launch/bench/tools/nfq-delay.swift -o nfq-delay
import CNetfilterQueue
import Glibc

func fail(_ message: String) -> Never {
    var line = "nfq-delay: \(message)\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(2)
}

/// Monotonic time in nanoseconds.
func now() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

// MARK: - Arguments

var queueNumber: UInt16?
var delayMs: Double?
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard let value = arguments.popFirst() else { fail("\(flag) needs a value; usage: nfq-delay --queue N --delay-ms D") }
    switch flag {
    case "--queue":
        guard let number = UInt16(value) else { fail("--queue '\(value)' is not a queue number 0-65535") }
        queueNumber = number
    case "--delay-ms":
        guard let ms = Double(value), ms >= 0, ms <= 10_000 else { fail("--delay-ms '\(value)' is not a delay of 0 to 10000 ms") }
        delayMs = ms
    default:
        fail("unknown argument '\(flag)'; usage: nfq-delay --queue N --delay-ms D")
    }
}
guard let queueNumber, let delayMs else { fail("usage: nfq-delay --queue N --delay-ms D") }
let delay = Int64(delayMs * 1e6)

// MARK: - The held packets

/// Packets waiting for their verdict, oldest first: (packet id, when it is due).
final class HeldPackets {
    var ids: [UInt32] = []
    var due: [Int64] = []
    var head = 0
    /// When the packets read now arrived (one clock reading per receive).
    var arrival: Int64 = 0
    var total = 0, mostHeld = 0

    var isEmpty: Bool { head == ids.count }
    var count: Int { ids.count - head }

    func hold(_ id: UInt32) {
        ids.append(id)
        due.append(arrival + delay)
        total += 1
        mostHeld = max(mostHeld, count)
    }

    /// Drops the released prefix now and then, so the arrays stay small.
    func compact() {
        guard head > 4096, head * 2 > ids.count else { return }
        ids.removeFirst(head)
        due.removeFirst(head)
        head = 0
    }
}

let held = HeldPackets()

// MARK: - The queue

guard let library = nfq_open() else { fail("nfq_open failed (errno \(errno)): run as root, inside the node's network namespace") }
// The callback runs in nfq_handle_packet for each packet read: it remembers the packet's id; the
// verdict comes later.
let queueHandle = nfq_create_queue(library, queueNumber, { _, _, packet, context in
    guard let packet, let header = nfq_get_msg_packet_hdr(packet) else { return 0 }
    // struct nfqnl_msg_packet_hdr is packed: packet_id (big-endian) is its first 4 bytes.
    let id = UInt32(bigEndian: UnsafeRawPointer(header).loadUnaligned(as: UInt32.self))
    Unmanaged<HeldPackets>.fromOpaque(context!).takeUnretainedValue().hold(id)
    return 0
}, Unmanaged.passUnretained(held).toOpaque())
guard let queue = queueHandle else {
    fail("cannot bind NFQUEUE \(queueNumber) (errno \(errno)): another program holds it, or nfnetlink_queue is missing from the kernel")
}
guard nfq_set_mode(queue, UInt8(NFQNL_COPY_META.rawValue), 0) >= 0 else { fail("nfq_set_mode failed (errno \(errno))") }
// Room for every packet of a burst (a 4 MB gradient bucket is ~3000 packets) held for the delay.
_ = nfq_set_queue_maxlen(queue, 1 << 16)
_ = nfnl_rcvbufsiz(nfq_nfnlh(library), 32 << 20)
let socket = nfq_fd(library)

// SIGTERM and SIGINT through a file descriptor, polled beside the queue's socket.
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGTERM)
sigaddset(&signals, SIGINT)
sigprocmask(SIG_BLOCK, &signals, nil)
let signalDescriptor = signalfd(-1, &signals, 0)
guard signalDescriptor >= 0 else { fail("signalfd failed (errno \(errno))") }

print("ready: NFQUEUE \(queueNumber), every packet held \(delayMs) ms")
fflush(stdout)

func release(until time: Int64) {
    while !held.isEmpty && held.due[held.head] <= time {
        _ = nfq_set_verdict(queue, held.ids[held.head], UInt32(NF_ACCEPT), 0, nil)
        held.head += 1
    }
    held.compact()
}

let bufferSize = 1 << 16
let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
var lostMessages = 0
var running = true
var descriptors = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: signalDescriptor, events: Int16(POLLIN), revents: 0)]
while running {
    var timeout = timespec()
    let ready: Int32
    if held.isEmpty {
        ready = ppoll(&descriptors, 2, nil, nil)
    } else {
        let wait = max(0, held.due[held.head] - now())
        timeout.tv_sec = Int(wait / 1_000_000_000)
        timeout.tv_nsec = Int(wait % 1_000_000_000)
        ready = ppoll(&descriptors, 2, &timeout, nil)
    }
    if ready < 0 && errno != EINTR { fail("ppoll failed (errno \(errno))") }
    if descriptors[1].revents != 0 { running = false }
    if descriptors[0].revents != 0 {
        // Everything queued now (non-blocking reads until none is left).
        while true {
            let received = recv(socket, buffer, bufferSize, Int32(MSG_DONTWAIT))
            if received < 0 {
                if errno == ENOBUFS { lostMessages += 1; continue }  // the socket overflowed: those packets stay unanswered
                break
            }
            held.arrival = now()
            _ = nfq_handle_packet(library, buffer.assumingMemoryBound(to: CChar.self), Int32(received))
        }
    }
    release(until: now())
}
release(until: .max)
nfq_destroy_queue(queue)
nfq_close(library)
var summary = "nfq-delay: queue \(queueNumber): \(held.total) packets held \(delayMs) ms (at most \(held.mostHeld) at once)"
if lostMessages > 0 { summary += ", \(lostMessages) socket overflows (packets lost)" }
summary += "\n"
summary.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
