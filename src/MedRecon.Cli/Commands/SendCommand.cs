using System.CommandLine;
using MedRecon.Cli.Pipelines;

namespace MedRecon.Cli.Commands;

/// <summary>`medrecon send PATH... --host H --port P` (DIMSE C-STORE) or `--stow URL` (DICOMweb STOW-RS).</summary>
public static class SendCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("paths") { Description = "DICOM files and folders (searched recursively).", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("send", "Send DICOM files to a PACS over DIMSE (C-STORE, one association) or DICOMweb (STOW-RS); " +
                                      "prints one line per failure or warning and a summary; exit 1 when any instance failed.");
        cmd.Arguments.Add(paths);
        PacsDestination.AddOptions(cmd);
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            var destination = PacsDestination.TryParse(p) ?? throw new CliException("give a destination: --host H --port P, or --stow URL");
            var files = PacsDestination.CollectFiles(p.GetValue(paths)!, out int skipped);
            if (skipped > 0) Console.WriteLine($"{skipped} non-DICOM file(s) in the folders skipped");
            if (files.Count == 0) throw new CliException("no DICOM files found");
            var summary = destination.Push(files, Console.Out);
            return summary.AllStored ? 0 : CliSupport.ExitFailure;
        }));
        return cmd;
    }
}
