import ArgumentParser
import Datasets
import Foundation

extension Multimix {
    /// `multimix data pack IMAGE_FOLDER --into DIR [--shard-mb 256] [--seed 0]`.
    struct DataPack: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pack",
            abstract: "Pack an image folder into tar shards (data.dataset: shards) with an index.",
            discussion: """
                Writes DIR/train-000000.tar, … and DIR/val-000000.tar, … (WebDataset style: KEY.jpg or \
                KEY.png, the file's bytes unchanged, and KEY.cls, the class index in the folder's class \
                order), a new shard when the next example would pass --shard-mb, and DIR/index.json (class \
                names; per split its shards with their examples, bytes and SHA-256, and the examples per \
                class). The training split is written in a permutation of the listing drawn from --seed, so \
                every shard mixes the classes; val/ as listed. Shards are written under temporary names and \
                renamed when complete; DIR must be new or empty. Train with data.dataset: shards, \
                data.root: DIR; every rank reads whole shards, so pack at least one training shard per rank.
                """
        )

        @Argument(help: "The image folder (ROOT/train/CLASS/*.jpg, ROOT/val/CLASS/*.jpg).")
        var imageFolder: String

        @Option(help: "The folder to write the shards into (new or empty).")
        var into: String

        @Option(help: "Largest shard in MiB (an example larger than this gets a shard of its own).")
        var shardMb: Double = 256

        @Option(help: "Seed of the permutation the training split is packed in.")
        var seed: UInt64 = 0

        func validate() throws {
            guard shardMb.isFinite, shardMb >= 0.01, shardMb <= 1_048_576 else {
                throw ValidationError("--shard-mb must be in [0.01, 1048576] (got \(shardMb)).")
            }
        }

        func run() throws {
            let listing = try ImageFolderListing(root: imageFolder)
            let live = isatty(STDERR_FILENO) != 0
            let index = try ShardPacker.pack(listing, into: into, shardBytes: Int(shardMb * 1_048_576), seed: seed) { split, done, total in
                let line = "packing \(split): \(done)/\(total) images"
                FileHandle.standardError.write(Data((live ? "\r\(line)\u{1B}[K" + (done == total ? "\n" : "") : line + "\n").utf8))
            }
            for (name, split) in [("train", index.train)] + (index.val.map { [("val", $0)] } ?? []) {
                let bytes = split.shards.reduce(0) { $0 + $1.bytes }
                print("\(name): \(split.count) images in \(split.shards.count) shard\(split.shards.count == 1 ? "" : "s"), \(String(format: "%.1f", Double(bytes) / 1_048_576)) MiB")
            }
            print("index: \((into as NSString).appendingPathComponent(ShardIndex.fileName)) (\(index.classNames.count) classes); train with data.dataset: shards, data.root: \(into)")
        }
    }
}
