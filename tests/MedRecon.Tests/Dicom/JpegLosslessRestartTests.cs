using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

/// <summary>
/// JPEG Lossless streams with restart intervals (dcmcjpeg does not write them): a minimal process-14 encoder here makes
/// them, and both dcmdjpeg and MedRecon must decode them to the original samples.
/// </summary>
public class JpegLosslessRestartTests
{
    sealed class BitWriter
    {
        public readonly List<byte> Bytes = new();
        int _acc, _n;

        public void Put(int value, int bits)
        {
            for (int i = bits - 1; i >= 0; i--)
            {
                _acc = (_acc << 1) | ((value >> i) & 1);
                if (++_n == 8) Flush8();
            }
        }

        void Flush8()
        {
            Bytes.Add((byte)_acc);
            if (_acc == 0xFF) Bytes.Add(0);
            _acc = 0;
            _n = 0;
        }

        public void PadOnes()
        {
            while (_n != 0) Put(1, 1);
        }
    }

    /// <summary>Encodes one component (precision p) with predictor sv and restart interval ri (in samples; 0 = none).</summary>
    static byte[] Encode(ushort[] img, int w, int h, int p, int sv, int ri)
    {
        var o = new List<byte> { 0xFF, 0xD8 };
        o.AddRange(new byte[] { 0xFF, 0xC3, 0, 11, (byte)p, (byte)(h >> 8), (byte)h, (byte)(w >> 8), (byte)w, 1, 1, 0x11, 0 });
        // Huffman table 0: categories 0..16, all 5-bit codes
        o.AddRange(new byte[] { 0xFF, 0xC4, 0, (byte)(2 + 1 + 16 + 17), 0x00 });
        for (int l = 1; l <= 16; l++) o.Add((byte)(l == 5 ? 17 : 0));
        for (int s = 0; s <= 16; s++) o.Add((byte)s);
        if (ri > 0) o.AddRange(new byte[] { 0xFF, 0xDD, 0, 4, (byte)(ri >> 8), (byte)ri });
        o.AddRange(new byte[] { 0xFF, 0xDA, 0, 8, 1, 1, 0x00, (byte)sv, 0, 0 });
        var bw = new BitWriter();
        int left = ri, rst = 0;
        bool firstLine = true;
        int restartX = 0;
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                if (ri > 0)
                {
                    if (left == 0)
                    {
                        bw.PadOnes();
                        o.AddRange(bw.Bytes);
                        bw.Bytes.Clear();
                        o.Add(0xFF);
                        o.Add((byte)(0xD0 + (rst++ & 7)));
                        left = ri;
                        firstLine = true;
                        restartX = x;
                    }
                    left--;
                }
                int i = y * w + x;
                int pred;
                if (firstLine && x == restartX) pred = 1 << (p - 1);
                else if (firstLine) pred = img[i - 1];
                else if (x == 0) pred = img[i - w];
                else
                {
                    int a = img[i - 1], b = img[i - w], c = img[i - w - 1];
                    pred = sv switch { 1 => a, 2 => b, 3 => c, 4 => a + b - c, 5 => a + ((b - c) >> 1), 6 => b + ((a - c) >> 1), _ => (a + b) >> 1 };
                }
                int d = (img[i] - pred) & 0xFFFF;
                if (d >= 0x8000) d -= 0x10000;
                if (d == -32768)
                {
                    bw.Put(16, 5);
                    continue;
                }
                int mag = Math.Abs(d), ssss = 0;
                while (mag >> ssss != 0) ssss++;
                bw.Put(ssss, 5);
                if (ssss > 0) bw.Put(d > 0 ? d : d + (1 << ssss) - 1, ssss);
            }
            firstLine = false;
        }
        bw.PadOnes();
        o.AddRange(bw.Bytes);
        o.AddRange(new byte[] { 0xFF, 0xD9 });
        return o.ToArray();
    }

    [SkippableTheory]
    [InlineData(1, 0)]
    [InlineData(1, 29)]     // restart at every row
    [InlineData(4, 17)]     // restarts in the middle of rows (libjpeg/dcmtk refuse these; T.81 wants whole MCU rows)
    [InlineData(7, 58)]
    [InlineData(6, 5)]
    [InlineData(2, 58)]
    [InlineData(5, 87)]
    public void RestartIntervals_DecodeLikeDcmdjpeg(int predictor, int restartInterval)
    {
        int w = 29, h = 23;
        var img = new ushort[w * h];
        var rng = new Random(predictor * 100 + restartInterval);
        for (int i = 0; i < img.Length; i++) img[i] = (ushort)(i % 11 == 0 ? rng.Next(65536) : 30000 + (i % w) * 300 + rng.Next(50));
        img[0] = 0;
        img[1] = 65535; // differences of 32768
        var jpeg = Encode(img, w, h, 16, predictor, restartInterval);

        var (planes, dw, dh, precision) = MedRecon.Dicom.Codecs.JpegLosslessDecoder.Decode(jpeg);
        Assert.Equal((w, h, 16), (dw, dh, precision));
        Assert.Equal(img, planes[0]);

        if (restartInterval % w != 0) return; // dcmdjpeg only accepts restart intervals of whole rows
        ExternalTools.RequireTool("dcmdjpeg", "dcmtk");
        using var tmp = new TempDir();
        var ds = DicomTestData.MakeImage(rows: h, cols: w, bitsStored: 16, signed: false);
        ds.AddOrUpdate(new DicomFragmentSequence(DicomTag.PixelData, DicomVR.OB, Array.Empty<byte>(), new[] { jpeg }));
        File.WriteAllBytes(tmp["j.dcm"], DicomCodecTests.WriteWithSyntax(ds, DicomTransferSyntax.JPEGProcess14.UID));
        DicomTestData.Tool("dcmdjpeg", tmp["j.dcm"], tmp["d.dcm"]);
        var theirs = DicomPixelData.Create(DicomFile.Open(tmp["d.dcm"])).GetFrameBytes(0);
        var ours = DicomPixelData.Create(DicomFile.Open(tmp["j.dcm"])).GetFrameBytes(0);
        Assert.Equal(theirs, ours);
    }
}
