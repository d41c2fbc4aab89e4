// Scanning a QR code with the camera (BarcodeDetector, where the browser
// has it): the admin reads a new participant's address, an inspector or a
// shopper a lot's Digital Link. Where there is no detector, the caller
// offers a text box to paste into.

/** canScan reports whether this browser can scan QR codes. */
export const canScan = () => 'BarcodeDetector' in window && !!navigator.mediaDevices?.getUserMedia;

/**
 * scan shows the camera in dialog (a <dialog> holding a <video> and a
 * close button) until a QR code is read into input or the user closes it.
 * It resolves true when a code was read, false otherwise.
 */
export async function scan(input, dialog) {
  if (!canScan()) {
    input.focus();
    return false;
  }
  const video = dialog.querySelector('video');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
  video.srcObject = stream;
  await video.play();
  dialog.showModal();
  const detector = new BarcodeDetector({ formats: ['qr_code'] });
  let open = true, read = false;
  const close = () => { open = false; stream.getTracks().forEach(tr => tr.stop()); dialog.close(); };
  dialog.querySelector('button').onclick = close;
  while (open) {
    const codes = await detector.detect(video).catch(() => []);
    if (codes.length) {
      input.value = codes[0].rawValue;
      read = true;
      close();
    } else {
      await new Promise(r => requestAnimationFrame(r));
    }
  }
  return read;
}
