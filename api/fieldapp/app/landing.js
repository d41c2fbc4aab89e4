// The landing page's scan button: shown only where the browser can scan.
import { canScan, scan } from './scan.js';

const button = document.getElementById('scan');
if (button && canScan()) {
  button.hidden = false;
  button.onclick = async () => {
    if (await scan(document.getElementById('code'), document.getElementById('scanner'))) button.form.requestSubmit();
  };
}
