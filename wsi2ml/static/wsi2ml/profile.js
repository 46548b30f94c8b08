/*
 * The profile page: the Copy button of the token just made, and picking "At the end of a date"
 * when a date is entered. The page works without it (the token can be selected and copied).
 */

const status = document.getElementById("copy-status");

/** Copy the text of field `id`: by the Clipboard API where allowed, else by selecting it. */
async function copyField(id) {
  const field = document.getElementById(id);
  try {
    // Only in a secure context (https or localhost); elsewhere navigator.clipboard is missing.
    await navigator.clipboard.writeText(field.value);
  } catch {
    field.select();
    if (!document.execCommand("copy")) throw new Error("copy refused");
  }
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    try {
      await copyField(button.dataset.copy);
      status.textContent = "Copied to the clipboard.";
    } catch {
      status.textContent = "The browser refused to copy: select the token and copy it yourself.";
    }
  });
}

const date = document.getElementById("id_expires_on");
const onDate = document.querySelector('input[name="expires"][value="date"]');
date?.addEventListener("input", () => {
  if (date.value && onDate) onDate.checked = true;
});
