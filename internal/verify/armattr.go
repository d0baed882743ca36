package verify

// shtARMAttributes is the section type of .ARM.attributes (ARM IHI 0044,
// "ELF for the Arm Architecture"); platform.ParseARMAttributes reads its
// contents.
const shtARMAttributes = 0x70000003
