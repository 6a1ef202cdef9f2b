import Datasets
import Foundation
import RunConfig
import RunOutputs
import Studies
import TestSupport
import Training
import XCTest

/// `eval.ood` as a list of named sets (built-in datasets or image folders), the single mapping of
/// older configs, and `multimix eval --ood NAME=ROOT`.
final class OODSetsConfigTests: XCTestCase {
    private func error(_ yaml: String, overrides: [String] = []) -> String { configError(yaml, overrides: overrides) }

    private let cifar = "data: {dataset: cifar10, root: /c10}\n"

    func testAListOfNamedSetsLoadsAndRoundTrips() throws {
        let config = try TrainingConfig.parse(yaml: cifar + """
            eval:
              ood:
                - {name: cifar100, dataset: cifar100, root: /c100}
                - {name: lsun-crop, dataset: image-folder, root: /ood/LSUN}
                - {name: isun_2, dataset: image-folder, root: /ood/iSUN}
            """)
        XCTAssertEqual(config.eval.ood, [EvalConfig.OOD(name: "cifar100", dataset: .cifar100, root: "/c100"),
                                         EvalConfig.OOD(name: "lsun-crop", dataset: .imageFolder, root: "/ood/LSUN"),
                                         EvalConfig.OOD(name: "isun_2", dataset: .imageFolder, root: "/ood/iSUN")])
        let text = try config.yamlText()
        XCTAssertTrue(text.contains("  ood:\n  - name: cifar100\n    dataset: cifar100\n    root: /c100\n"), text)
        XCTAssertEqual(try TrainingConfig.parse(yaml: text), config)
        // --set replaces the list; a one-element list is the single set.
        let one = try TrainingConfig.parse(yaml: text, overrides: ["eval.ood=[{name: svhn, dataset: image-folder, root: /s}]"])
        XCTAssertEqual(one.eval.ood, [EvalConfig.OOD(name: "svhn", dataset: .imageFolder, root: "/s")])
        XCTAssertEqual(try TrainingConfig.parse(yaml: try one.yamlText()), one)
        XCTAssertEqual(try TrainingConfig.parse(yaml: text, overrides: ["eval.ood=null"]).eval.ood, [])
        XCTAssertFalse(try TrainingConfig.parse(yaml: cifar).yamlText().contains("ood:"))
    }

    /// A config of the single form, written before the list, serialises and hashes as it did: the
    /// hash is the one the tool gave it before (main at 312af1f, from a run's state.json).
    func testTheSingleFormKeepsItsTextAndHash() throws {
        let config = try TrainingConfig.parse(yaml: """
            name: h
            data: {dataset: cifar10, train_subset: 64, root: /work/main/.cache/data/cifar-10-batches-bin}
            model: {name: resnet20, width: 0.25}
            training: {epochs: 1, batch_size: 32}
            eval: {every_epochs: 5, ood: {dataset: cifar100, root: /work/main/.cache/data/cifar-100-binary}}
            """)
        XCTAssertEqual(config.eval.ood, [EvalConfig.OOD(name: "", dataset: .cifar100, root: "/work/main/.cache/data/cifar-100-binary")])
        let text = try config.yamlText()
        XCTAssertTrue(text.hasSuffix("""
            eval:
              every_epochs: 5
              split: test
              noise_ood_images: 0
              ood:
                dataset: cifar100
                root: /work/main/.cache/data/cifar-100-binary
            checkpoint:
              every_epochs: 1
              keep: 3

            """), text)
        XCTAssertEqual(try config.hash(), "086e5b522ed0445356b9f18661c53bd9fb83f1d8ec12a7299a7f0169a12843e1")
        // A name in the mapping form is one named set.
        let named = try TrainingConfig.parse(yaml: cifar + "eval: {ood: {name: c100, dataset: cifar100, root: /x}}")
        XCTAssertEqual(named.eval.ood.map(\.name), ["c100"])
    }

    func testWrongSetsAreRefusedInOneLineNamingTheKey() {
        let two = "- {name: a, dataset: image-folder, root: /a}\n    - "
        func list(_ second: String) -> String { cifar + "eval:\n  ood:\n    \(two)\(second)\n" }
        XCTAssertEqual(error(list("{dataset: image-folder, root: /b}")),
                       "config: eval.ood[1].name: \"\" is not allowed; give each of several OOD sets a name (letters, digits, -, _)")
        XCTAssertEqual(error(list("{name: a, dataset: cifar100, root: /b}")),
                       "config: eval.ood[1].name: a is not allowed; give each OOD set its own name (this one is used twice)")
        XCTAssertEqual(error(list("{name: l sun, dataset: image-folder, root: /b}")),
                       "config: eval.ood[1].name: l sun is not allowed; use 1 to 64 letters, digits, - and _")
        XCTAssertEqual(error(list("{name: lsün, dataset: image-folder, root: /b}")),
                       "config: eval.ood[1].name: lsün is not allowed; use 1 to 64 letters, digits, - and _")
        XCTAssertEqual(error(list("{name: gaussian, dataset: image-folder, root: /b}")),
                       "config: eval.ood[1].name: gaussian is not allowed; gaussian is taken by eval.noise_ood_images; choose another name")
        XCTAssertEqual(error(list("{name: b, dataset: lsun, root: /b}")),
                       "config: eval.ood[1].dataset: \"lsun\" is not a dataset; use one of fashion-mnist, mnist, cifar10, cifar100, image-folder, shards")
        XCTAssertEqual(error(list("{name: b, dataset: image-folder}")), "config: eval.ood[1].root: missing; eval.ood[1] needs root")
        XCTAssertEqual(error(list("{name: b, dataset: image-folder, rot: /b}")),
                       "config: eval.ood[1].rot: unknown key (did you mean root?); valid keys in eval.ood[1] are name, dataset, root")
        XCTAssertEqual(error(list("lsun")), "config: eval.ood[1]: expected a mapping, got \"lsun\"; give keys name, dataset, root")
        XCTAssertEqual(error(list("{name: b, dataset: cifar10, root: /b}")),
                       "config: eval.ood[1].dataset: cifar10 is not allowed; choose a dataset other than data.dataset (cifar10)")
        XCTAssertEqual(error(list("{name: b, dataset: image-folder, root: \"\"}")),
                       "config: eval.ood[1].root: \"\" is not allowed; give the OOD set's folder")
        XCTAssertEqual(error(cifar + "eval: {ood: lsun}"),
                       "config: eval.ood: expected a mapping or a list of mappings, got \"lsun\"; give keys name, dataset, root")
        XCTAssertEqual(error("eval: {ood: {name: lsun, dataset: image-folder, root: /l}}"),
                       "config: eval.ood.dataset: image-folder is not allowed; image folders are RGB and the model takes 1x28x28 (fashion-mnist); use a 1-channel built-in dataset")
        XCTAssertEqual(error(cifar, overrides: ["eval.ood=[{name: a, dataset: image-folder, root: /a}, {name: A, rot: /x}]"]),
                       "config: eval.ood[1].rot: unknown key (did you mean root?); valid keys in eval.ood[1] are name, dataset, root")
    }

    func testEvalCommandLineSets() throws {
        func parse(_ values: [String]) -> String {
            do {
                return try EvalConfig.OOD.parseCommandLine(values).map { "\($0.name)|\($0.dataset.rawValue)|\($0.root)" }.joined(separator: " ")
            } catch {
                XCTAssertFalse("\(error)".contains("\n"))
                return "\(error)"
            }
        }
        // One built-in set keeps the plain keys (ood_auroc, …), as before --ood was repeatable.
        XCTAssertEqual(parse(["cifar100"]), "|cifar100|\(DatasetSource(.cifar100).root)")
        XCTAssertEqual(parse(["cifar100=/c"]), "|cifar100|/c")
        XCTAssertEqual(parse(["cifar100=/c", "lsun-crop=/l"]), "cifar100|cifar100|/c lsun-crop|image-folder|/l")
        XCTAssertEqual(parse(["isun=/i"]), "isun|image-folder|/i")
        XCTAssertEqual(parse([]), "")
        XCTAssertEqual(parse(["lsun"]), "--ood lsun: lsun is not a built-in dataset (fashion-mnist, mnist, cifar10 or cifar100); for a folder of images give --ood lsun=ROOT")
        XCTAssertEqual(parse(["lsun="]), "--ood lsun=: lsun is not a built-in dataset (fashion-mnist, mnist, cifar10 or cifar100); for a folder of images give --ood lsun=ROOT")
        XCTAssertEqual(parse(["a=/x", "a=/y"]), "--ood a=/y: the name a is given twice; give each set its own name")
        XCTAssertEqual(parse(["a b=/x"]), "--ood a b=/x: 'a b' cannot name a set; use 1 to 64 letters, digits, - and _")
        XCTAssertEqual(parse(["=/x"]), "--ood =/x: '' cannot name a set; use 1 to 64 letters, digits, - and _")
        XCTAssertEqual(parse(["uniform=/x"]), "--ood uniform=/x: 'uniform' cannot name a set; uniform is taken by eval.noise_ood_images; choose another name")
        XCTAssertEqual(parse(["cifar10="]), "--ood cifar10=: no folder after '='; write --ood cifar10 or --ood cifar10=ROOT")
    }

    /// The report's OOD table: a column group per set (the unnamed set as "OOD"), values in %, a dash
    /// where a run lacks a set; none without OOD metrics.
    func testTheReportShowsAColumnGroupPerSet() {
        let values = ["top1": 0.7, "ood_lsun-crop_auroc": 0.9351, "ood_lsun-crop_aupr_in": 0.9, "ood_lsun-crop_aupr_out": 0.8,
                      "ood_isun_auroc": 0.5, "ood_isun_aupr_in": 0.25, "ood_isun_aupr_out": 0.125]
        let page = RunReport.html(records: [MetricsRecord(kind: .eval, step: 1, epoch: 1, values: values)], title: "run")
        XCTAssertTrue(page.contains("<tr><th rowspan=\"2\">run</th><th colspan=\"3\">isun</th><th colspan=\"3\">lsun-crop</th></tr>\n"
            + "<tr><th>AUROC</th><th>AUPR-in</th><th>AUPR-out</th><th>AUROC</th><th>AUPR-in</th><th>AUPR-out</th></tr>\n"
            + "<tr><td>run</td><td class=\"value\">50.0</td><td class=\"value\">25.0</td><td class=\"value\">12.5</td>"
            + "<td class=\"value\">93.5</td><td class=\"value\">90.0</td><td class=\"value\">80.0</td></tr>"), page)
        let runs = [ComparisonReport.Run(label: "a", records: [MetricsRecord(kind: .eval, step: 1, epoch: 1, values: values)]),
                    ComparisonReport.Run(label: "b", records: [MetricsRecord(kind: .eval, step: 1, epoch: 1, values: ["ood_auroc": 0.75])])]
        let comparison = ComparisonReport.html(runs)
        XCTAssertTrue(comparison.contains("<th colspan=\"3\">OOD</th><th colspan=\"3\">isun</th>"), comparison)
        XCTAssertTrue(comparison.contains("<tr><td>b</td><td class=\"value\">75.0</td><td class=\"value\">–</td>"), comparison)
        XCTAssertFalse(RunReport.html(records: [MetricsRecord(kind: .eval, step: 1, epoch: 1, values: ["top1": 0.5])], title: "x")
            .contains("Out-of-distribution detection"))
    }

    /// The CIFAR-100 recipes list the three sets of the paper's OOD table, where `multimix data fetch`
    /// puts them.
    func testTheCIFAR100RecipesListThePapersSets() throws {
        for method in ["erm", "multimix", "dense-multimix"] {
            let url = Repository.root.appendingPathComponent("configs/cifar100-preactresnet18-\(method).yaml")
            let config = try TrainingConfig.load(contentsOf: url)
            XCTAssertEqual(config.eval.ood, ["lsun-crop", "isun", "tinyimagenet-crop"].map {
                EvalConfig.OOD(name: $0, dataset: .imageFolder, root: ".cache/data/\($0)")
            }, method)
        }
    }
}
