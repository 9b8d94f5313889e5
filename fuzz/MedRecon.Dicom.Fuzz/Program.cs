using MedRecon.Dicom;
using SharpFuzz;

// Reads, decodes up to two frames and re-saves each input; any exception other than the typed DICOM errors is a
// finding (AFL++ records it as a crash).
Fuzzer.OutOfProcess.Run(stream =>
{
    try
    {
        var file = DicomFile.Open(stream, "fuzz");
        foreach (var item in file.Dataset)
            if (item is DicomElement e) file.Dataset.GetString(e.Tag);
        if (file.Dataset.Contains(DicomTag.PixelData))
        {
            var pixels = DicomPixelData.Create(file);
            for (int frame = 0; frame < Math.Min(pixels.NumberOfFrames, 2); frame++) pixels.GetFrame(frame);
        }
        using var copy = new MemoryStream();
        file.Save(copy);
    }
    catch (DicomFileException) { }
    catch (DicomDataException) { }
});
